"""Incidents and their dispatch to agencies: what a call-taker writes from a call, which
agency the responsibility matrix proposes, and each dispatch's life (attempt, answer,
accept or refusal, on the way, on scene, resolved), measured against the agency's
commitment.

- model.py        the values and the pure state machine of a dispatch (no I/O)
- matrix.py       the responsibility matrix: category -> agencies of the caller's region
- tables.py       the database tables
- service.py      the only code that changes incidents, dispositions and dispatches;
                  every change is written with its audit entry in one transaction
- commitments.py  the commitment figures (p50/p90, share within) per agency and region
- http.py         the JSON endpoints, the agency's screen and the report page
"""
