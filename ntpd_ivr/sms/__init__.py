"""SMS through Kannel: outgoing messages kept in an outbox until Kannel accepts them,
delivery reports, incoming messages (AML/ELS location SMS among them). docs/sms.md."""
