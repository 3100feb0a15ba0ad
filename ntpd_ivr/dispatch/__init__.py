"""The telephony of a "connect" dispatch: the agency's trunks dialled by AMI Originate, the
announcement and key 1, and the caller, the call-taker and the agency in one ConfBridge
(docs/incidents.md). The dispatch record itself is ntpd_ivr/incidents/'s."""
