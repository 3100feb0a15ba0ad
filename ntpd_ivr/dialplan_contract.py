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
CONTEXT_FROM_NEIGHBOUR: Final = "from-neighbour"    # other 112 centers' trunks (transfers)
# Where a 112 caller's channel starts (its Newchannel): a call the records follow.
CALLER_CONTEXTS: Final = frozenset({CONTEXT_FROM_OPERATOR, CONTEXT_FROM_NEIGHBOUR})
CONTEXT_EMERGENCY: Final = "ntpd-emergency"         # answer, IVR, queue
CONTEXT_FALLBACK: Final = "ntpd-fallback"           # controller unreachable or failed
CONTEXT_FROM_TAKERS: Final = "from-takers"          # call-taker softphones
CONTEXT_AGENCY_DISPATCH: Final = "ntpd-agency-dispatch"  # generated: one exten per agency
CONTEXT_AGENCY_DIAL: Final = "ntpd-agency-dial"     # primary, backup, then call-taker
# Connect dispatch (dialplan/ntpd-dispatch.conf): reached only by the controller's AMI
# Originate (the agency leg) and Redirect (caller and call-taker into the conference).
CONTEXT_DISPATCH_AGENCY: Final = "ntpd-dispatch-agency"        # announcement, key 1/2
CONTEXT_DISPATCH_CONFERENCE: Final = "ntpd-dispatch-conference"  # caller-<id>, taker-<id>
DISPATCH_CONTEXTS: Final = frozenset({CONTEXT_DISPATCH_AGENCY, CONTEXT_DISPATCH_CONFERENCE})
EXTEN_DISPATCH_BRIDGE: Final = "bridge"            # agency leg: into the conference
EXTEN_DISPATCH_CALLER_GONE: Final = "caller-gone"  # agency leg: notice, then hang up
EXTEN_DISPATCH_CLOSED: Final = "closed"            # agency leg: dispatch no longer live
CONFERENCE_PREFIX: Final = "ntpd-dispatch-"        # ConfBridge name: prefix + dispatch id
# Transfer to a neighbouring 112 center (dialplan/ntpd-transfer.conf, ntpd_ivr/transfer/
# call.py): reached only by the controller's Originate of the neighbour's leg; caller and
# call-taker join [ntpd-dispatch-conference] as caller-t<reference>, taker-t<reference>.
CONTEXT_TRANSFER_NEIGHBOUR: Final = "ntpd-transfer-neighbour"  # announcement, key 1
TRANSFER_ROOM_PREFIX: Final = "t"   # conference ntpd-dispatch-t<reference>
EXTEN_TRANSFER_CALLER_GONE: Final = "caller-gone"  # neighbour leg: notice, then hang up
# Controller-only contexts: no endpoint, include or jump leads into them.
CONTROLLER_CONTEXTS: Final = DISPATCH_CONTEXTS | {CONTEXT_TRANSFER_NEIGHBOUR}
LABEL_EMERGENCY_QUEUE: Final = "queue"  # [ntpd-emergency] s: Queue(${NTPD_QUEUE})

# --- Channel variables the dialplan sets before AGI -------------------------------------
VAR_TRUNK: Final = "NTPD_TRUNK"            # PJSIP endpoint of the operator trunk
VAR_DIALED: Final = "NTPD_DIALED"          # number the caller dialled (112, 110, ...)
# What [from-operator] keeps of the dialled number (FILTER's character list): dial
# characters only, never the comma that separates AGI() arguments.
DIALED_CHARACTERS: Final = "0-9+*#"
VAR_AGI_URL: Final = "NTPD_AGI_URL"        # global: agi://127.0.0.1:4573
VAR_FALLBACK_QUEUE: Final = "NTPD_FALLBACK_QUEUE"  # global: queue used without controller
VAR_LOCATION: Final = "NTPD_LOCATION"      # base64 GEOLOC_PROFILE(effective_location)
VAR_GEOLOCATION: Final = "NTPD_GEOLOCATION"  # base64 of the SIP Geolocation header
VAR_CALL_INFO: Final = "NTPD_CALL_INFO"    # base64 of the SIP Call-Info header (EIDO reference)
# base64 of X-NTPD-Overflow-Region: another center's edge overflowed the call (docs/ha.md)
VAR_OVERFLOW_REGION: Final = "NTPD_OVERFLOW_REGION"

# --- Channel variables handlers set for the dialplan (read after AGI returns) -------------
VAR_QUEUE: Final = "NTPD_QUEUE"            # the queue to join; empty means "use fallback"
VAR_DIGIT: Final = "NTPD_DIGIT"            # the IVR digit ('' when none)
VAR_CATEGORY: Final = "NTPD_CATEGORY"      # category chosen (ambulance, fire, police, ...)
VAR_ROUTE_REASON: Final = "NTPD_ROUTE_REASON"
VAR_QUEUE_PRIO: Final = "QUEUE_PRIO"       # app_queue's own priority variable
VAR_AGENCY: Final = "NTPD_AGENCY"          # agency to bridge to first ('' = queue only)
VAR_BLOCKED: Final = "NTPD_BLOCKED"        # "1": blocked by the prank policy, no escape
VAR_WARN_PROMPT: Final = "NTPD_WARN_PROMPT"  # prank warning to play before the queue ('' none)
# The caller's number as the agency's trunk writes it (routing config number_format), sent
# as the caller ID of the direct agency Dial; '' = the number as the operator sent it
VAR_AGENCY_CALLER: Final = "NTPD_AGENCY_CALLER"

HANDLER_SET_VARIABLES: Final = frozenset({VAR_QUEUE, VAR_DIGIT, VAR_CATEGORY,
                                          VAR_ROUTE_REASON, VAR_QUEUE_PRIO, VAR_AGENCY,
                                          VAR_BLOCKED, VAR_WARN_PROMPT, VAR_AGENCY_CALLER})

# --- Channel variables the controller's Originate sets on a dispatch's agency leg ---------
VAR_DISPATCH: Final = "NTPD_DISPATCH"                  # the dispatch id
VAR_DISPATCH_CALLER: Final = "NTPD_DISPATCH_CALLER"    # the caller's uniqueid
VAR_DISPATCH_ANNOUNCE: Final = "NTPD_DISPATCH_ANNOUNCE"  # prompt files, joined by &
VAR_DISPATCH_KEY_SECONDS: Final = "NTPD_DISPATCH_KEY_SECONDS"  # wait for a key, per round
VAR_DISPATCH_WAIT: Final = "NTPD_DISPATCH_WAIT"        # after key 1: wait for the controller
DISPATCH_ORIGINATE_VARIABLES: Final = frozenset({
    VAR_DISPATCH, VAR_DISPATCH_CALLER, VAR_DISPATCH_ANNOUNCE, VAR_DISPATCH_KEY_SECONDS,
    VAR_DISPATCH_WAIT})

# --- Channel variables the controller's Originate sets on a transfer's neighbour leg -------
VAR_TRANSFER: Final = "NTPD_TRANSFER"                  # the transfer (EIDO reference)
VAR_TRANSFER_CALLER: Final = "NTPD_TRANSFER_CALLER"    # the caller's uniqueid
VAR_TRANSFER_ANNOUNCE: Final = "NTPD_TRANSFER_ANNOUNCE"  # prompt files, joined by &
VAR_TRANSFER_KEY_SECONDS: Final = "NTPD_TRANSFER_KEY_SECONDS"  # wait for a key, per round
VAR_TRANSFER_ROUNDS: Final = "NTPD_TRANSFER_ROUNDS"    # rounds of the announcement
VAR_TRANSFER_WAIT: Final = "NTPD_TRANSFER_WAIT"        # after key 1: wait for the controller
TRANSFER_ORIGINATE_VARIABLES: Final = frozenset({
    VAR_TRANSFER, VAR_TRANSFER_CALLER, VAR_TRANSFER_ANNOUNCE, VAR_TRANSFER_KEY_SECONDS,
    VAR_TRANSFER_ROUNDS, VAR_TRANSFER_WAIT})
# The header the neighbour leg's INVITE carries (RFC 7852 style), set by the Originate on
# the outgoing PJSIP channel before it is called (res_pjsip_header_funcs).
FUNC_TRANSFER_CALL_INFO: Final = "PJSIP_HEADER(add,Call-Info)"
USEREVENT_TRANSFER_KEY: Final = "NTPDTransferKey"  # Transfer, Caller, Result

# --- AMI UserEvent the agency dialplan sends after each trunk attempt ---------------------
USEREVENT_TRUNK_ATTEMPT: Final = "NTPDTrunkAttempt"
# --- AMI UserEvent the dispatch dialplan sends with the agency's answer (accept, refuse,
# no-input) ------------------------------------------------------------------------------
USEREVENT_DISPATCH_KEY: Final = "NTPDDispatchKey"

# --- Asterisk's own variables we read ------------------------------------------------------
VAR_AGISTATUS: Final = "AGISTATUS"

# --- Public warning campaigns (dialplan/ntpd-warning.conf, ntpd_ivr/campaigns) ------------
# Reached only by the controller's AMI Originate, once the contact answered; it dials
# nothing itself: the Originate dialled the one number of that attempt.
CONTEXT_WARNING: Final = "ntpd-warning"
# Anything the outbound warning trunks send us lands here and is refused.
CONTEXT_FROM_WARNING_TRUNK: Final = "from-warning-trunk"
USEREVENT_WARNING: Final = "NTPDWarning"
ASTDB_WARNING_FAMILY: Final = "ntpd-warning"  # DB(ntpd-warning/<uniqueid>) = answered|confirmed
# Set by the controller's Originate (Variable:) for the warning dialplan to read.
VAR_WARNING_MESSAGE: Final = "NTPD_WARNING_MESSAGE"    # the message file, no extension
VAR_WARNING_LANGUAGE: Final = "NTPD_WARNING_LANGUAGE"  # id or en: the confirm prompt
VAR_WARNING_MAX_PLAYS: Final = "NTPD_WARNING_MAX_PLAYS"
VAR_WARNING_KEY_TIMEOUT: Final = "NTPD_WARNING_KEY_TIMEOUT"
WARNING_ORIGINATE_VARIABLES: Final = frozenset({
    VAR_WARNING_MESSAGE, VAR_WARNING_LANGUAGE, VAR_WARNING_MAX_PLAYS, VAR_WARNING_KEY_TIMEOUT})
# Every variable a controller's Originate sets for the dialplan to read.

# --- Abandoned-call callbacks (ntpd_ivr/callbacks/) ----------------------------------------
# Reached only by the controller's AMI Originate (the call-taker's phone first, then the
# caller): no context includes it, jumps to it, or is an endpoint's context.
CONTEXT_CALLBACK: Final = "ntpd-callback"
CONTEXT_CALLBACK_HEADERS: Final = "ntpd-callback-headers"  # pre-dial handler of the caller leg
CONTEXT_CALLBACK_ANSWERED: Final = "ntpd-callback-answered"  # the caller answered (Dial U)
CONTEXT_FROM_CALLBACK_LINE: Final = "from-callback-line"  # the callback line's own: a dead end
# Set by the Originate on the call-taker's channel and inherited by the caller's: this is
# the center calling a caller back, never to be blocked (prank protection reads it).
VAR_CENTER_CALLBACK: Final = "NTPD_CENTER_CALLBACK"
VAR_CALLBACK_ID: Final = "NTPD_CALLBACK_ID"
VAR_CALLBACK_NUMBER: Final = "NTPD_CALLBACK_NUMBER"  # the number on the callback list
VAR_CALLBACK_TRUNK: Final = "NTPD_CALLBACK_TRUNK"    # settings callbacks.trunk
VAR_CALLBACK_RING: Final = "NTPD_CALLBACK_RING"      # seconds the caller's phone rings
VAR_CALLBACK_PRIORITY: Final = "NTPD_CALLBACK_PRIORITY"  # "1": add Priority: psap-callback
VAR_CALLBACK_CALLER_ID: Final = "NTPD_CALLBACK_CALLER_ID"  # what the caller's phone shows
CALLBACK_ORIGINATE_VARIABLES: Final = frozenset({VAR_CENTER_CALLBACK, VAR_CALLBACK_ID,
                                        VAR_CALLBACK_NUMBER, VAR_CALLBACK_TRUNK,
                                        VAR_CALLBACK_RING, VAR_CALLBACK_PRIORITY,
                                        VAR_CALLBACK_CALLER_ID})
# The dialplan's UserEvent after dialling the caller: Callback (id), Result (DIALSTATUS).
USEREVENT_CALLBACK_RESULT: Final = "NTPDCallbackResult"
# Every variable a controller's Originate sets for the dialplan to read.
ORIGINATE_SET_VARIABLES: Final = (DISPATCH_ORIGINATE_VARIABLES | WARNING_ORIGINATE_VARIABLES
                                   | CALLBACK_ORIGINATE_VARIABLES
                                   | TRANSFER_ORIGINATE_VARIABLES)

# --- Recordings (ntpd_ivr/recordings/) -----------------------------------------------------
# Global: the folder MixMonitor writes <UNIQUEID>.wav into, as Asterisk sees it; empty
# turns recording off.
VAR_RECORDINGS: Final = "NTPD_RECORDINGS"
