"""The call-taker's workspace: the screen beside the softphone.

- model.py: presence (queue memberships of one SIP endpoint) and the screen pop, pure;
- ami.py: the AMI actions that change presence, and reading it back (QueueStatus);
- store.py: the database side: the call and its caller's history, the audit trail;
- service.py: the only code that changes the workspace's state;
- http.py: the page, its JSON API and the routes' roles (`routes(service)(app)`).

A web user is tied to a call-taker's PJSIP endpoint by `sip_endpoint` in the users file
(`ntpd-ivr user add NAME --role calltaker --sip-endpoint ENDPOINT`).
"""
