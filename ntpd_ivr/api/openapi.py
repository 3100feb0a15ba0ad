"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json. Its schemas are
JSON Schema 2020-12: the tests validate every reply of the API against them."""

from __future__ import annotations

from typing import Any

from ntpd_ivr.api.params import (
    AGENCY_KEY,
    BY,
    CALL_ID,
    INCIDENT_ID,
    LIMIT,
    OVERFLOW_REGION,
    PERIOD,
    REGION,
    STATUS,
    WITHIN,
    Param,
)
from ntpd_ivr.reports.model import COLUMNS, GROUPINGS, TEXT_COLUMNS
from ntpd_ivr.texts.repository import SESSION_FIELDS

API_VERSION = "1.0.0"
CALL_FIELDS = ("uniqueid", "linkedid", "caller_number", "dialed", "category", "region",
               "queue", "arrived_at", "queued_at", "answered_at", "answered_by", "ended_at",
               "abandoned_at", "disposition", "hangup_cause", "reconciled", "medium",
               "overflow_region")
INCIDENT_FIELDS = ("id", "region", "category", "kecamatan", "desa", "address", "lat", "lon",
                   "description", "people_involved", "severity", "status", "created_at",
                   "created_by", "closed_at")
DISPATCH_FIELDS = ("id", "incident_id", "agency", "region", "mode", "status", "proposed",
                   "created_at", "created_by", "answered_at", "accepted_at", "refused_at",
                   "timed_out_at", "on_the_way_at", "on_scene_at", "resolved_at",
                   "cancelled_at")

_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT = {"type": ["string", "null"]}


def _object(properties: dict[str, Any], required: tuple[str, ...] | None = None
            ) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(required if required is not None else properties),
            "additionalProperties": False}


def _times(fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: _TIME for f in fields if f.endswith("_at")}


CALL = _object({
    **{f: _TEXT for f in CALL_FIELDS}, **_times(CALL_FIELDS),
    "uniqueid": {"type": "string"}, "hangup_cause": {"type": ["integer", "null"]},
    "reconciled": {"type": "boolean"}, "medium": {"enum": ["voice", "sms"]}})
_TEXT_SESSION = {**{f: _TEXT for f in SESSION_FIELDS}, **_times(SESSION_FIELDS),
                 "uniqueid": {"type": "string"}, "caller_number": {"type": "string"},
                 "opened_at": {"type": "string", "format": "date-time"}}
TEXT_MESSAGE = _object({
    "id": {"type": "integer"}, "direction": {"enum": ["in", "out"]},
    "body": {"type": "string"}, "author": {"type": "string"},
    "at": {"type": "string", "format": "date-time"},
    "delivery": {"enum": [None, "queued", "sent", "delivered", "failed"]},
    "flagged": {"type": "boolean"}})
TEXT_SESSION = _object({**_TEXT_SESSION, "messages": {"type": "integer", "minimum": 0}})
TEXT_CONVERSATION = _object({**_TEXT_SESSION, "messages": {
    "type": "array", "items": {"$ref": "#/components/schemas/TextMessage"}}})
INCIDENT = _object({
    **{f: {"type": "string"} for f in INCIDENT_FIELDS}, **_times(INCIDENT_FIELDS),
    "id": {"type": "integer"}, "lat": {"type": ["number", "null"]},
    "lon": {"type": ["number", "null"]}, "people_involved": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"},
    "status": {"enum": ["open", "closed"]}})
DISPATCH = _object({
    **{f: {"type": "string"} for f in DISPATCH_FIELDS}, **_times(DISPATCH_FIELDS),
    "id": {"type": "integer"}, "incident_id": {"type": "integer"},
    "mode": {"enum": ["connect", "notify"]}, "proposed": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"}})
_NUMBER = {"type": ["number", "null"]}
FIGURES_LINE = _object({
    **{c: _NUMBER for c in COLUMNS}, "group": {"type": "string"},
    **{c: {"type": "integer", "minimum": 0}
       for c in ("offered", "answered", "abandoned", "information_only", "in_progress",
                 "prank", "ghost", "dispatches")}})
FIGURES = _object({
    "from": {"type": "string", "format": "date-time"},
    "to": {"type": "string", "format": "date-time"},
    "by": {"enum": list(GROUPINGS)}, "within_seconds": {"type": "integer"},
    "region": _TEXT, "timezone": {"type": "string"},
    "groups": {"type": "array", "items": {"$ref": "#/components/schemas/FiguresLine"}},
    "total": {"$ref": "#/components/schemas/FiguresLine"},
    "texts": _object({
        **{c: {"type": "integer", "minimum": 0} for c in TEXT_COLUMNS[:5]},
        **{c: _NUMBER for c in TEXT_COLUMNS[5:]},
        "by_category": {"type": "object",
                        "additionalProperties": {"type": "integer", "minimum": 0}}})},
    required=("from", "to", "by", "within_seconds", "region", "timezone", "groups", "total"))
PROBLEM = _object({"error": {"type": "string"}, "reason": {"type": "string"}})
FEED_PUSH = _object({"queued": {"type": "integer"}, "delivered": {"type": "integer"},
                     "pending": {"type": "integer"}})
# An EIDO document (NENA-STA-021, eidoVersion 1.0): its full schema ships with ntpd-ivr
# (ntpd_ivr/eido/schema/eido-1.0.schema.json, docs/eido.md); here, its required members.
EIDO = {"type": "object", "required": ["$id", "lastUpdateTimeStamp", "updatedByAgencyReference",
                                       "eidoVersion", "issuingElementIdentification",
                                       "agencyComponent"],
        "properties": {"eidoVersion": {"const": "1.0"}, "$id": {"type": "string"},
                       "issuingElementIdentification": {"type": "string"},
                       "agencyComponent": {"type": "array", "minItems": 1}}}
SCHEMAS: dict[str, Any] = {
    "Eido": EIDO,
    "Call": CALL, "Incident": INCIDENT, "Dispatch": DISPATCH, "FiguresLine": FIGURES_LINE,
    "Figures": FIGURES, "Problem": PROBLEM, "FeedPush": FEED_PUSH,
    "TextSession": TEXT_SESSION, "TextConversation": TEXT_CONVERSATION,
    "TextMessage": TEXT_MESSAGE,
    "TextSessionList": _object({"texts": {
        "type": "array", "items": {"$ref": "#/components/schemas/TextSession"}}}),
    "CallList": _object({"calls": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/Call"}}}),
    "IncidentList": _object({"incidents": {"type": "array",
                                           "items": {"$ref": "#/components/schemas/Incident"}}}),
    "DispatchList": _object({"dispatches": {"type": "array",
                                            "items": {"$ref": "#/components/schemas/Dispatch"}}}),
}


_ERRORS = {
    "400": "Bad input: the reason names the parameter (its schema here says what is "
           "allowed; a control character such as NUL is refused in any parameter).",
    "401": "No token or session, or an unknown or revoked token.",
    "403": "The token's or user's role may not use this, or not on this object (or CSRF "
           "missing on a session POST).",
    "404": "No such object (or not in the agency's scope).",
    "409": "The monitoring feed is not configured (feed.url).",
    "503": "Too many EIDO subscribers at once; retry later.",
}
_AUTHENTICATED = ("400", "401", "403")


def _responses(ok: str, codes: tuple[str, ...] = _AUTHENTICATED) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{ok}"}}}}}
    for code in codes:
        out[code] = {"description": _ERRORS[code], "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}}
    return out


def _get(summary: str, roles: str, ok: str, given: tuple[Param, ...],
         codes: tuple[str, ...] = _AUTHENTICATED) -> dict[str, Any]:
    return {"get": {"summary": summary, "description": f"Roles: {roles}.",
                    "parameters": [p.spec() for p in given],
                    "responses": _responses(ok, codes)}}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "ntpd-ivr API", "version": API_VERSION,
                 "description": "The NTPD 112 center's calls, incidents, dispatches and "
                                "figures for integration (docs/api.md). Machine clients "
                                "send `Authorization: Bearer <token>` (`ntpd-ivr token "
                                "create`); a logged-in browser may use its session."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/calls": _get(
                "112 calls that arrived in the period", "calltaker, supervisor, admin",
                "CallList", (*PERIOD, REGION, OVERFLOW_REGION, LIMIT)),
            "/api/v1/calls/{uniqueid}": _get(
                "One call", "calltaker, supervisor, admin", "Call", (CALL_ID,),
                (*_AUTHENTICATED, "404")),
            "/api/v1/texts": _get(
                "112 text sessions (SMS) opened in the period, with their message counts; "
                "each is a call too (/api/v1/calls, medium sms)",
                "calltaker, supervisor, admin", "TextSessionList", (*PERIOD, LIMIT)),
            "/api/v1/texts/{uniqueid}": _get(
                "One text session with its messages", "calltaker, supervisor, admin",
                "TextConversation", (CALL_ID,), (*_AUTHENTICATED, "404")),
            "/api/v1/incidents": _get(
                "Incidents created in the period", "calltaker and above; agency (only "
                "incidents dispatched to it)", "IncidentList", (*PERIOD, STATUS, LIMIT)),
            "/api/v1/incidents/{id}": _get(
                "One incident", "calltaker and above; agency (its own)", "Incident",
                (INCIDENT_ID,), (*_AUTHENTICATED, "404")),
            "/api/v1/incidents/{id}/eido": _get(
                "One incident as an EIDO document (NENA-STA-021 JSON, eidoVersion 1.0; "
                "docs/eido.md)", "calltaker and above; agency (its own)", "Eido",
                (INCIDENT_ID,), (*_AUTHENTICATED, "404")),
            "/api/v1/eido/subscriptions": {"get": {
                "summary": "WebSocket: EIDO notifications of each new or changed incident in "
                           "the caller's scope (NENA-STA-024 pattern)",
                "description": "Roles: calltaker and above; agency (only incidents dispatched "
                               "to it). Open a WebSocket with the token, send "
                               "{\"subscribe\": {\"requestId\": \"1\", \"requestType\": "
                               "\"EIDO\"}}; the answer is a subscribeResponse with a "
                               "subscriptionId, then each change arrives as {\"event\": "
                               "{\"subscriptionId\", \"transactionId\", \"notification\": "
                               "[EIDO]}} (docs/eido.md). A plain GET is refused (400).",
                "responses": {
                    "101": {"description": "Switching to the WebSocket protocol."},
                    **{code: spec for code, spec in _responses(
                        "Problem", (*_AUTHENTICATED, "503")).items() if code != "200"}}}},
            "/api/v1/dispatches": _get(
                "Dispatches created in the period", "calltaker and above; agency (its own)",
                "DispatchList", (*PERIOD, AGENCY_KEY, LIMIT)),
            "/api/v1/figures": _get(
                "The report's figures (the same as `ntpd-ivr report --by`)",
                "supervisor, admin", "Figures", (*PERIOD, BY, WITHIN, REGION)),
            "/api/v1/feed/push": {"post": {
                "summary": "Queue the monitoring feed's figures now and try to deliver "
                           "every pending push, oldest first",
                "description": "Roles: supervisor, admin. A session POST needs the CSRF "
                               "token (X-CSRF-Token); audited.",
                "responses": _responses("FeedPush", (*_AUTHENTICATED, "409"))}},
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from `ntpd-ivr token create`"},
                "session": {"type": "apiKey", "in": "cookie", "name": "ntpd_session"},
            },
        },
    }
