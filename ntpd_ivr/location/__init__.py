"""The caller's location: the model, the parsers of what the network sends, and the
service that reads it from a call and turns it into call-record fields."""
