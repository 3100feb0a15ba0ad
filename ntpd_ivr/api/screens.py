"""The OpenAPI 3.1 document of the screens' JSON routes under /api/ (not /api/v1), served
at /api/openapi.json: what the call-taker, supervisor and agency screens call with their
session. They are not a versioned contract (that is /api/v1, ntpd_ivr/api/openapi.py): the
document states the inputs each handler refuses, so that a client or a fuzzer knows them.
A session POST needs the CSRF token (X-CSRF-Token, from GET /api/csrf)."""

from __future__ import annotations

from typing import Any

from ntpd_ivr.api.openapi import PROBLEM
from ntpd_ivr.api.params import AGENCY, ISO_TIME, MAX_ID, NAME, Param
from ntpd_ivr.campaigns import model as campaign_model
from ntpd_ivr.dispatch.model import ACTIONS
from ntpd_ivr.incidents import schemas as incident_schemas
from ntpd_ivr.incidents.model import DISPOSITIONS, SEVERITIES
from ntpd_ivr.web.app import MAX_NOTICE_CHARS
from ntpd_ivr.workspace.model import PAUSE_REASONS, PRESENCE_ACTIONS

# What incidents/schemas.py text() takes: printable text (newlines allowed); it is
# stripped before its length is checked.
PRINTABLE = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$"
_ERRORS = {
    "400": "Bad input: the reason names the parameter or field.",
    "401": "No session (log in: POST /login).",
    "403": "The role may not use this, not on this object, or the CSRF token is missing.",
    "404": "No such object (or not in the agency's scope).",
    "409": "The object's state does not allow it (e.g. the incident is closed), or the "
           "user has no phone (no-endpoint).",
    "413": "The body is longer than the route takes (the reason says the limit).",
    "502": "Asterisk refused the action or is unreachable (audited); for a transfer, the "
           "neighbouring center refused or could not be reached (code and text say why).",
    "503": "The database cannot be reached now; try again.",
}
_SESSION = ("400", "401", "403")
_OBJECT = ("400", "401", "403", "404")
_CHANGE = ("400", "401", "403", "404", "409")


def _text(limit: int, required: bool = True) -> dict[str, Any]:
    return {"type": "string", "pattern": PRINTABLE,
            "maxLength": limit + 64,  # surrounding blanks are stripped first
            "minLength": 1 if required else 0,
            "description": f"Printable text, at most {limit} characters once stripped"
                           + ("" if required else "; may be empty")}


def _whole(low: int, high: int) -> dict[str, Any]:
    """A whole number, as JSON or as the digits a form sends."""
    return {"anyOf": [{"type": "integer", "minimum": low, "maximum": high},
                      {"type": "string", "pattern": r"^\s*[0-9]{1,20}\s*$"}],
            "description": f"{low}-{high}"}


def _degrees(limit: int) -> dict[str, Any]:
    return {"anyOf": [{"type": "number", "minimum": -limit, "maximum": limit},
                      {"type": "null"}, {"type": "string", "maxLength": 32}],
            "description": f"-{limit}..{limit} degrees; lat and lon come together"}


UNIQUEID = {"type": "string", "pattern": r"^[A-Za-z0-9.-]{1,64}$", "maxLength": 64,
            "description": "Asterisk's unique id, e.g. 1732771200.42"}
INCIDENT_DRAFT = {
    "type": "object",
    "required": ["region", "category", "severity", "kecamatan", "description"],
    "properties": {
        "region": _text(incident_schemas.MAX_TEXT_CHARS) | {
            "description": "A region of the routing config"},
        "category": _text(incident_schemas.MAX_TEXT_CHARS) | {
            "description": "A category of the routing config"},
        "severity": {"enum": list(SEVERITIES)},
        "kecamatan": _text(incident_schemas.MAX_TEXT_CHARS),
        "desa": _text(incident_schemas.MAX_TEXT_CHARS, required=False),
        "address": _text(incident_schemas.MAX_TEXT_CHARS, required=False),
        "description": _text(incident_schemas.MAX_DESCRIPTION_CHARS),
        "people_involved": _whole(0, incident_schemas.MAX_PEOPLE),
        "lat": _degrees(90), "lon": _degrees(180),
        "call": UNIQUEID | {"description": "The call it is written from (optional)"},
        "save_key": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$",
                     "description": "The screen's key of this draft (optional): sent again "
                                    "with the same key, the save answers the incident the "
                                    "first one made instead of making a second"}},
    "example": {"region": "palembang", "category": "fire", "severity": "high",
                "kecamatan": "Ilir Barat I", "description": "Rumah terbakar",
                "people_involved": 3, "lat": -2.9761, "lon": 104.7754}}
DISPATCH_BODY = {
    "type": "object", "required": ["agency"],
    "properties": {"agency": _text(incident_schemas.MAX_TEXT_CHARS) | {
                       "description": "<region>-<agency> of the routing config"},
                   "mode": {"enum": ["notify", "connect"], "default": "notify"},
                   "call": UNIQUEID | {"description": "The caller (mode connect only)"}},
    "example": {"agency": "palembang-damkar", "mode": "notify"}}
DISPOSITION_BODY = {
    "type": "object", "required": ["disposition"],
    "properties": {"disposition": {"enum": list(DISPOSITIONS)},
                   "incident_id": _whole(1, MAX_ID) | {
                       "description": "Required for genuine and duplicate, else absent"}},
    "example": {"disposition": "genuine", "incident_id": 1}}
TEXT_REPLY_BODY = {
    "type": "object",
    "properties": {"body": {"type": "string", "maxLength": 4096,
                            "description": "Printable text (newlines allowed), at most "
                                           "[texts] max_body_chars once stripped (413)"},
                   "quick": {"type": "string", "maxLength": 64,
                             "description": "A quick reply's id (GET /api/texts/quick-"
                                            "replies); not with body"}},
    "example": {"quick": "where"}}
ACCEPTS_TEXT_BODY = {"type": "object", "required": ["accepts"],
                     "properties": {"accepts": {"type": "boolean"}},
                     "example": {"accepts": True}}
TRANSFER_BODY = {
    "type": "object", "required": ["neighbour", "call"],
    "properties": {"neighbour": _text(40) | {
                       "description": "A neighbouring center the incident's region lists"},
                   "call": UNIQUEID | {"description": "The live call to transfer (yours)"}},
    "example": {"neighbour": "banyuasin", "call": "1732771200.42"}}
NOTICE_BODY = {"type": "object", "required": ["text"],
               "properties": {"text": {"type": "string", "minLength": 1,
                                       "maxLength": MAX_NOTICE_CHARS}}}
PRESENCE_BODY = {
    "type": "object", "required": ["action"],
    "properties": {"action": {"enum": list(PRESENCE_ACTIONS)},
                   "queue": {"type": "string", "maxLength": 80,
                             "description": "action login: one of the desk's queues"},
                   "reason": {"enum": list(PAUSE_REASONS),
                              "description": "action pause: why"}},
    "example": {"action": "pause", "reason": "break"}}
HAND_OVER_BODY = {
    "type": "object", "required": ["call"],
    "properties": {"call": UNIQUEID | {"description": "The call transferred (yours)"}},
    "additionalProperties": False}
CALLBACK_BODY = {
    "type": "object",
    "properties": {"endpoint": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$",
                                "description": "The call-taker's phone to ring first: a "
                                               "call-taker's own (default); a supervisor "
                                               "may name any known one"}}}
_NAMES = {"anyOf": [{"type": "array", "items": {"type": "string", "maxLength": 200}},
                    {"type": "string", "maxLength": 2000}],
          "description": "A list of names, or one text of names separated by commas"}
_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 32}],
           "description": "A finite number, or its digits as a form sends them"}
CAMPAIGN_BODY = {
    "type": "object", "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": campaign_model.MAX_TEXT},
        "message_text": {"type": "string",
                         "maxLength": campaign_model.MAX_MESSAGE_CHARS},
        "message_text_regional": {
            "type": "string", "maxLength": campaign_model.MAX_MESSAGE_CHARS,
            "description": "The message in the settings' regional language too "
                           "(warnings.regional_language; refused when none is set)"},
        "kecamatan": _NAMES, "desa": _NAMES, "roles": _NAMES,
        "trunk": {"type": "string", "maxLength": 80,
                  "description": "One of the outbound trunks"},
        "caller_id": {"type": "string", "maxLength": 32,
                      "description": "The center's number: digits, + in front"},
        "max_attempts": _NUMBER | {"description": "1-10 (default 3)"},
        **{name: _NUMBER | {"description": "0-86400 seconds"}
           for name in ("no_answer_seconds", "busy_seconds", "failed_seconds")}},
    "example": {"title": "Banjir", "message_text": "Air naik di Ilir Barat I",
                "kecamatan": ["Ilir Barat I"], "max_attempts": 2}}
ALERT_CAMPAIGN_BODY = {"type": "object", "additionalProperties": False, "properties": {
    "trunk": {"type": "string", "maxLength": 64},
    "caller_id": {"type": "string", "maxLength": 32}}}
CONTACTS_IMPORT_BODY = {"type": "object", "required": ["csv"],
                        "properties": {"csv": {"type": "string"}}}
CONTACT_EDIT_BODY = {"type": "object", "minProperties": 1, "additionalProperties": False,
                     "properties": {name: {"type": ["string", "number", "null"]}
                                    for name in campaign_model.EDITABLE}}
BAD_CSV = {"type": "object", "required": ["error", "reason"], "additionalProperties": False,
           "properties": {"error": {"type": "string"}, "reason": {"type": "string"},
                          "line": {"type": ["integer", "null"]}}}
UNBLOCK_BODY = {"type": "object", "required": ["number"],
                "properties": {"number": {"type": "string", "maxLength": 64,
                                          "description": "A caller number, e.g. 0812..."}}}

ID = Param("id", "Id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "path")
REFERENCE = Param("reference", "The transfer (the other center's reference)",
                  {"type": "string", "pattern": r"^[0-9a-f]{32}$"}, "path")
CALL = Param("uniqueid", "The call's unique id", UNIQUEID, "path")
OF_CALL = Param("call", "The caller's unique id", UNIQUEID)
TEXT_SESSION = Param("uniqueid", "A text session's id (sms-<n>)",
                     {"type": "string", "pattern": r"^sms-[0-9]{1,19}$", "maxLength": 23},
                     "path")
ACTION = Param("action", "The dispatch's next step", {"enum": list(ACTIONS)}, "path")
CALLS_LIMIT = Param("limit", "At most this many (1-500, default 50)",
                    {"type": "integer", "minimum": 1, "maximum": 500})
SUGGEST = (Param("category", "The call's category",
                 _text(incident_schemas.MAX_TEXT_CHARS)),
           Param("kecamatan", "The kecamatan", _text(incident_schemas.MAX_TEXT_CHARS)))
LOCATE = (Param("lat", "Latitude in degrees (WGS 84)",
                {"type": "number", "minimum": -90, "maximum": 90}),
          Param("lon", "Longitude in degrees (WGS 84)",
                {"type": "number", "minimum": -180, "maximum": 180}),
          Param("region", "The call's region: is the point inside it?", _text(64)))
AGENCY_FILTER = Param("agency", "Only this agency (an agency user: always its own); "
                      "empty: every agency",
                      {"type": "string", "pattern": AGENCY + "|^$", "maxLength": 81})
COMMITMENTS = (Param("from", "ISO 8601 start; default 30 days before to",
                     {"type": "string", "pattern": ISO_TIME, "maxLength": 32}),
               Param("to", "ISO 8601 end; default now",
                     {"type": "string", "pattern": ISO_TIME, "maxLength": 32}),
               AGENCY_FILTER,
               Param("region", "Only this region; empty: every region",
                     {"type": "string", "pattern": NAME + "|^$", "maxLength": 40}))
NUMBER = Param("number", "One caller number", {"type": "string", "maxLength": 64})


def _responses(ok: str, codes: tuple[str, ...], ok_type: str = "application/json"
               ) -> dict[str, Any]:
    body = {"type": "string"} if ok_type != "application/json" else {"type": "object"}
    out: dict[str, Any] = {ok: {"description": "OK", "content": {ok_type: {"schema": body}}}}
    for code in codes:
        out[code] = {"description": _ERRORS[code], "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}}
    return out


def _op(summary: str, roles: str, given: tuple[Param, ...] = (),
        body: dict[str, Any] | None = None, ok: str = "200",
        codes: tuple[str, ...] = _SESSION, ok_type: str = "application/json"
        ) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": f"Roles: {roles}.",
                          "parameters": [p.spec() for p in given],
                          "responses": _responses(ok, codes, ok_type)}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return op


# A transfer's refusal (409 transfer-refused, 502 transfer-failed) says why twice: `code`
# (docs/eido.md's reasons) and `text` (its words in the user's language).
TRANSFER_PROBLEM = {"type": "object", "required": ["error", "reason", "code", "text"],
                    "additionalProperties": False,
                    "properties": {key: {"type": "string"}
                                   for key in ("error", "reason", "code", "text")}}


def _transfer(op: dict[str, Any]) -> dict[str, Any]:
    """409 and 502 are a Problem, or a transfer's refusal with its code and text."""
    for code in ("409", "502"):
        if code in op["responses"]:
            op["responses"][code]["content"]["application/json"]["schema"] = {"anyOf": [
                {"$ref": "#/components/schemas/Problem"},
                {"$ref": "#/components/schemas/TransferProblem"}]}
    return op


def _csv_import() -> dict[str, Any]:
    """400 is a Problem, or bad-csv with the CSV line at fault."""
    op = _op("Import contacts from CSV", "admin", body=CONTACTS_IMPORT_BODY, ok="201")
    op["responses"]["400"]["content"]["application/json"]["schema"] = {"anyOf": [
        {"$ref": "#/components/schemas/Problem"}, {"$ref": "#/components/schemas/BadCsv"}]}
    return op


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "ntpd-ivr screens' JSON routes", "version": "0",
                 "description": __doc__},
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "paths": {
            "/api/me": {"get": _op("Who this session is", "calltaker and above")},
            "/api/calls": {"get": _op("Recent calls", "calltaker and above",
                                      (CALLS_LIMIT,))},
            "/api/notices": {"post": _op("A notice to every call-taker's screen",
                                         "supervisor", body=NOTICE_BODY)},
            "/api/incidents": {"post": _op("A new incident", "calltaker and above",
                                           body=INCIDENT_DRAFT, ok="201", codes=_CHANGE)},
            "/api/incidents/suggest": {"get": _op(
                "Open incidents a call may be about", "calltaker and above", SUGGEST)},
            "/api/incidents/{id}": {"get": _op(
                "One incident", "calltaker and above; agency (its own)", (ID,),
                codes=_OBJECT)},
            "/api/incidents/{id}/close": {"post": _op(
                "Close an incident", "calltaker and above", (ID,), codes=_CHANGE)},
            "/api/incidents/{id}/proposal": {"get": _op(
                "The agencies proposed for an incident", "calltaker and above", (ID,),
                codes=_OBJECT)},
            "/api/incidents/{id}/dispatches": {"post": _op(
                "Dispatch an agency", "calltaker and above", (ID,), DISPATCH_BODY, "201",
                _CHANGE)},
            "/api/calls/{uniqueid}/disposition": {"post": _op(
                "Set a call's disposition", "calltaker and above (their own calls)",
                (CALL,), DISPOSITION_BODY, codes=_CHANGE)},
            "/api/dispatches": {"get": _op("Dispatches", "agency and above",
                                           (AGENCY_FILTER,))},
            "/api/dispatches/{id}/{action}": {"post": _op(
                "A dispatch's next step", "agency (its own) and above; cancel: calltaker",
                (ID, ACTION), codes=_CHANGE)},
            "/api/reports/commitments": {"get": _op(
                "The agencies' commitment report", "agency (its own) and above",
                COMMITMENTS)},
            "/api/strikes": {"get": _op("Numbers with strikes", "supervisor", (NUMBER,),
                                        codes=(*_SESSION, "503"))},
            "/api/strikes/unblock": {"post": _op("Clear a number's strikes", "supervisor",
                                                 body=UNBLOCK_BODY,
                                                 codes=(*_SESSION, "503"))},
            "/api/csrf": {"get": {**_op("The CSRF token for this browser's cookie",
                                        "anyone"), "security": []}},
            "/api/workspace": {"get": _op("The call-taker's desk", "calltaker and above")},
            "/api/workspace/locate": {"get": _op(
                "Where a point lies: region, kecamatan, desa, and whether it is in the call's "
                "region", "calltaker and above", LOCATE)},
            "/api/workspace/presence": {"post": _op(
                "Log in to a queue, pause, unpause, log out", "calltaker and above",
                body=PRESENCE_BODY, codes=(*_SESSION, "409", "502"))},
            "/api/workspace/accepts-text": {"put": _op(
                "Whether this desk is offered text sessions (SMS)", "calltaker and above",
                body=ACCEPTS_TEXT_BODY)},
            "/api/texts": {"get": _op(
                "Text sessions offered to me now, and mine", "calltaker and above")},
            "/api/texts/quick-replies": {"get": _op(
                "The quick replies, in the user's language", "calltaker and above")},
            "/api/texts/{uniqueid}": {"get": _op(
                "One text session with its messages",
                "calltaker and above (offered or theirs; a supervisor: any)",
                (TEXT_SESSION,), codes=_OBJECT)},
            "/api/texts/{uniqueid}/take": {"post": _op(
                "Take a text session offered to me (the first one wins)",
                "calltaker and above", (TEXT_SESSION,), codes=_CHANGE)},
            "/api/texts/{uniqueid}/messages": {"post": _op(
                "Reply to the caller by SMS", "calltaker and above (the session's owner)",
                (TEXT_SESSION,), TEXT_REPLY_BODY, "201", (*_CHANGE, "413"))},
            "/api/texts/{uniqueid}/end": {"post": _op(
                "End a text session with a disposition",
                "calltaker and above (the session's owner)", (TEXT_SESSION,),
                DISPOSITION_BODY, codes=(*_CHANGE, "503"))},
            "/api/texts/{uniqueid}/callback": {"post": _op(
                "Escalate to a voice callback to the same number",
                "calltaker and above (the session's owner)", (TEXT_SESSION,), ok="202",
                codes=(*_CHANGE, "503"))},
            "/api/incidents/{id}/transfers": {"post": _transfer(_op(
                "Transfer the live caller to a neighbouring 112 center: the incident's "
                "EIDO, then the call (202 ringing; the rest on the desk's socket)",
                "calltaker and above (their own call)", (ID,), TRANSFER_BODY, "202",
                codes=(*_CHANGE, "502")))},
            "/api/incidents/{id}/transfers/{reference}/hand-over": {"post": _transfer(_op(
                "Hand the caller over once the other center accepted: the call-taker's "
                "leg leaves the conference", "calltaker and above (their own call)",
                (ID, REFERENCE), HAND_OVER_BODY, "202", _CHANGE))},
            "/api/transfers": {"get": _op(
                "The call's latest transfer to another center (a reloaded desk's panel), "
                "or null", "calltaker and above (their own call)", (OF_CALL,))},
            "/api/wall": {"get": _op("The supervisor's wall", "supervisor")},
            "/api/callbacks": {"get": _op("The callback list", "calltaker and above")},
            "/api/callbacks/{id}/call": {"post": _op(
                "Call a caller back: the call-taker's phone, then the caller",
                "calltaker and above", (ID,), CALLBACK_BODY, "202", _CHANGE)},
            "/api/warnings/contacts": {"get": _op("Warning contacts", "admin")},
            "/api/warnings/contacts/import": {"post": _csv_import()},
            "/api/warnings/contacts/{id}": {
                "post": _op("Edit a contact", "admin", (ID,), CONTACT_EDIT_BODY,
                            codes=_CHANGE),
                "delete": _op("Delete a contact", "admin", (ID,), codes=_CHANGE)},
            "/api/warnings/campaigns": {
                "get": _op("Warning campaigns", "supervisor"),
                "post": _op("A new campaign (approved by a second supervisor)", "supervisor",
                            body=CAMPAIGN_BODY, ok="201", codes=_CHANGE)},
            "/api/warnings/campaigns/{id}/approve": {"post": _op(
                "Approve a campaign: its calls start", "supervisor (not its author)", (ID,),
                codes=_CHANGE)},
            "/api/warnings/campaigns/{id}/cancel": {"post": _op(
                "Cancel a campaign", "supervisor", (ID,), codes=_CHANGE)},
            "/api/warnings/campaigns/{id}/report": {"get": _op(
                "A campaign's outcome", "supervisor", (ID,), codes=_OBJECT)},
            "/api/warnings/campaigns/{id}/report.csv": {"get": _op(
                "A campaign's outcome, one row per contact", "supervisor", (ID,),
                codes=_OBJECT, ok_type="text/csv")},
            "/api/warnings/campaigns/{id}/cap": {"get": _op(
                "The campaign as a CAP 1.2 alert (OASIS schema; Draft until approved)",
                "supervisor", (ID,), codes=_OBJECT, ok_type="application/cap+xml")},
            "/api/alerts": {"get": _op(
                "CAP alerts for the center's regions, surge mode, the poller's counters",
                "supervisor")},
            "/api/alerts/{id}/surge": {"post": _op(
                "Surge mode on from this alert, or renewed (audited)", "supervisor", (ID,),
                codes=(*_OBJECT, "503"))},
            "/api/alerts/{id}/campaign": {"post": _op(
                "A warning campaign from the alert (awaits a second supervisor)",
                "supervisor", (ID,), ALERT_CAMPAIGN_BODY, "201", _CHANGE)},
            "/api/surge/off": {"post": _op("Surge mode off now (audited)", "supervisor",
                                           codes=(*_SESSION, "503"))},
        },
        "components": {
            "schemas": {"Problem": PROBLEM, "BadCsv": BAD_CSV,
                        "TransferProblem": TRANSFER_PROBLEM},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "ntpd_session"}},
        },
    }
