"""SMS through Kannel: outgoing messages kept in an outbox until Kannel accepts them,
delivery reports, incoming messages handed on as bus events (ntpd_ivr/sms/events.py; the
location domain reads the AML ones). docs/sms.md."""
