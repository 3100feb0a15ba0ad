"""112 by text: SMS conversations on the call-taker's desk (issue 22, docs/texts.md)."""
