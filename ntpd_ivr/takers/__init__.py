"""Call-taker SIP accounts: one account per call-taker, their PJSIP objects and queue
membership rendered into Asterisk includes, applied with a reload."""
