"""The supervisor's live wall: calls, call-takers, today's figures, incidents, callbacks."""
