"""Incidents and call dispositions: what a call-taker writes from a call, what each call
was, and each agency's dispatches measured against its commitment. A dispatch itself (its
state, records, endpoints, the agency's screen and its telephony) is ntpd_ivr/dispatch/'s.

- model.py        the values (no I/O)
- tables.py       the database tables
- repository.py   reading incidents (also for dispatch): rows as JSON, one incident's row
- service.py      the only code that changes incidents and dispositions; every change is
                  written with its audit entry in one transaction
- rights.py       whose call it is: a call-taker acts only on the calls they answered
- commitments.py  the commitment figures (p50/p90, share within) per agency and region
- http.py         the JSON endpoints and the report page; who acts for which agency
"""
