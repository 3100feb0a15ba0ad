"""Dispatches: an incident handed to an agency, and its life (attempt, answer, accept or
refusal, on the way, on scene, resolved) (docs/incidents.md).

- model.py        a dispatch's values, its state machine and the pure decisions of a
                  connect dispatch (no I/O)
- matrix.py       the responsibility matrix: category -> agencies of the caller's region
- tables.py       the dispatches table
- repository.py   an incident's dispatches, for the incident's view
- records.py      DispatchService: the only code that changes dispatches; every change is
                  written with its audit entry in one transaction
- http.py         the JSON endpoints and the agency's screen
- service.py      ConnectDispatcher: the telephony of a "connect" dispatch (the agency's
  ami.py          trunks dialled by AMI Originate, the announcement and key 1, and the
                  caller, the call-taker and the agency in one ConfBridge)
"""
