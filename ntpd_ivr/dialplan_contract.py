"""The contract between the controller and `dialplan/`: every name both sides use.

A test (tests/unit/test_dialplan_contract.py) reads `dialplan/*.conf` and checks that
every `AGI(agi://...)` script there has a handler here and every handler is used, and that
the variables the dialplan reads after AGI are the ones handlers set.
"""

from __future__ import annotations

from typing import Final

# --- FastAGI scripts (the path part of agi://host:port/<script>) --------------------
SCRIPT_EMERGENCY_IVR: Final = "emergency-ivr"

# --- Dialplan contexts ----------------------------------------------------------------
CONTEXT_FROM_OPERATOR: Final = "from-operator"      # operator trunks land here
CONTEXT_EMERGENCY: Final = "ntpd-emergency"         # answer, IVR, queue
CONTEXT_FALLBACK: Final = "ntpd-fallback"           # controller unreachable or failed
CONTEXT_FROM_TAKERS: Final = "from-takers"          # call-taker softphones
CONTEXT_AGENCY_DISPATCH: Final = "ntpd-agency-dispatch"  # generated: one exten per agency
CONTEXT_AGENCY_DIAL: Final = "ntpd-agency-dial"     # primary, backup, then call-taker

# --- Channel variables the dialplan sets before AGI -------------------------------------
VAR_TRUNK: Final = "NTPD_TRUNK"            # PJSIP endpoint of the operator trunk
VAR_DIALED: Final = "NTPD_DIALED"          # number the caller dialled (112, 110, ...)
VAR_AGI_URL: Final = "NTPD_AGI_URL"        # global: agi://127.0.0.1:4573
VAR_FALLBACK_QUEUE: Final = "NTPD_FALLBACK_QUEUE"  # global: queue used without controller
VAR_LOCATION: Final = "NTPD_LOCATION"      # base64 GEOLOC_PROFILE(effective_location)
VAR_GEOLOCATION: Final = "NTPD_GEOLOCATION"  # base64 of the SIP Geolocation header

# --- Channel variables handlers set for the dialplan (read after AGI returns) -------------
VAR_QUEUE: Final = "NTPD_QUEUE"            # the queue to join; empty means "use fallback"
VAR_DIGIT: Final = "NTPD_DIGIT"            # the IVR digit ('' when none)
VAR_CATEGORY: Final = "NTPD_CATEGORY"      # category chosen (ambulance, fire, police, ...)
VAR_ROUTE_REASON: Final = "NTPD_ROUTE_REASON"
VAR_QUEUE_PRIO: Final = "QUEUE_PRIO"       # app_queue's own priority variable
VAR_AGENCY: Final = "NTPD_AGENCY"          # agency to bridge to first ('' = queue only)
VAR_BLOCKED: Final = "NTPD_BLOCKED"        # "1": blocked by the prank policy, no escape
VAR_WARN_PROMPT: Final = "NTPD_WARN_PROMPT"  # prank warning to play before the queue ('' none)

HANDLER_SET_VARIABLES: Final = frozenset({VAR_QUEUE, VAR_DIGIT, VAR_CATEGORY,
                                          VAR_ROUTE_REASON, VAR_QUEUE_PRIO, VAR_AGENCY,
                                          VAR_BLOCKED, VAR_WARN_PROMPT})

# --- AMI UserEvent the agency dialplan sends after each trunk attempt ---------------------
USEREVENT_TRUNK_ATTEMPT: Final = "NTPDTrunkAttempt"

# --- Asterisk's own variables we read ------------------------------------------------------
VAR_AGISTATUS: Final = "AGISTATUS"
