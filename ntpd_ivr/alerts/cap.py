"""CAP 1.2 as XML: read safely, validated against the OASIS schema, and written.

Reading: defusedxml refuses a DTD, entity declarations and external references before any
is expanded (a "billion laughs" document is refused, not expanded), and nothing is ever
fetched by the parser. The tree is then validated against `schema/CAP-v1.2.xsd` (OASIS,
shipped here; its source in docs/alerts.md) with xmlschema, loaded once with remote
access refused. Only a valid alert becomes a `CapAlert`; anything else is a `CapError`
with the reason.

A feed is a CAP alert itself, or an Atom or RSS 2.0 document listing alerts by link
(BMKG's nowcast feed is RSS; many CAP feeds are Atom): `feed_links` reads the links.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import defusedxml
import xmlschema
from defusedxml import ElementTree as SafeTree

from ntpd_ivr.alerts.model import (
    CapAlert,
    CapArea,
    CapError,
    clip,
    parse_circle,
    parse_polygon,
)

NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
SCHEMA_PATH = Path(__file__).parent / "schema" / "CAP-v1.2.xsd"
_Q = "{" + NS + "}"


@cache
def schema() -> xmlschema.XMLSchema:
    """The OASIS CAP 1.2 schema, read once; it imports nothing, and nothing is fetched."""
    return xmlschema.XMLSchema(str(SCHEMA_PATH), allow="sandbox", defuse="always")


def parse_xml(data: bytes, max_bytes: int) -> ElementTree.Element:
    """The document's root, or CapError: too big, not XML, a DTD or an entity."""
    if len(data) > max_bytes:
        raise CapError(f"document larger than {max_bytes} bytes")
    try:
        root: ElementTree.Element = SafeTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        return root
    except defusedxml.DTDForbidden:
        raise CapError("a DTD is not accepted (entity expansion refused)") from None
    except defusedxml.EntitiesForbidden:
        raise CapError("entity declarations are not accepted") from None
    except defusedxml.ExternalReferenceForbidden:
        raise CapError("external references are not accepted") from None
    except ElementTree.ParseError as exc:
        raise CapError(f"not well-formed XML: {exc}") from None


def validation_error(root: ElementTree.Element) -> str | None:
    """The first way the alert breaks the CAP 1.2 schema, or None when it is valid."""
    if root.tag != _Q + "alert":
        return f"root element is {clip(root.tag, 80)}, not a CAP 1.2 alert ({NS})"
    # The tree is in memory: the resource may open nothing at all.
    for error in schema().iter_errors(xmlschema.XMLResource(root, allow="none")):
        text = f"{error.path or ''}: {error.reason or error.message}"
        return clip(text.replace(_Q, "cap:"), 300)
    return None


def _text(element: ElementTree.Element | None, name: str) -> str:
    child = element.find(_Q + name) if element is not None else None
    return (child.text or "").strip() if child is not None else ""


def _time(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _pairs(element: ElementTree.Element, name: str) -> tuple[tuple[str, str], ...]:
    return tuple((clip(_text(p, "valueName"), 100), clip(_text(p, "value"), 500))
                 for p in element.findall(_Q + name))


def _area(element: ElementTree.Element) -> CapArea:
    return CapArea(
        desc=clip(_text(element, "areaDesc"), 500),
        polygons=tuple(parse_polygon(p.text or "") for p in element.findall(_Q + "polygon")),
        circles=tuple(parse_circle(c.text or "") for c in element.findall(_Q + "circle")),
        geocodes=_pairs(element, "geocode"))


def _info(root: ElementTree.Element) -> ElementTree.Element | None:
    infos = root.findall(_Q + "info")
    return next((i for i in infos if _text(i, "language").lower().startswith("id")),
                infos[0] if infos else None)


def read_alert(root: ElementTree.Element) -> CapAlert:
    """A schema-valid alert's content; CapError when it is not valid CAP 1.2."""
    problem = validation_error(root)
    if problem is not None:
        raise CapError(f"not valid CAP 1.2: {problem}")
    info = _info(root)
    return CapAlert(
        identifier=clip(_text(root, "identifier"), 300), sender=clip(_text(root, "sender"), 300),
        sent=datetime.fromisoformat(_text(root, "sent")), status=_text(root, "status"),
        msg_type=_text(root, "msgType"), scope=_text(root, "scope"),
        references=clip(_text(root, "references"), 2000),
        language=_text(info, "language"), event=clip(_text(info, "event"), 300),
        category=_text(info, "category"), urgency=_text(info, "urgency") or "Unknown",
        severity=_text(info, "severity") or "Unknown",
        certainty=_text(info, "certainty") or "Unknown",
        headline=clip(_text(info, "headline"), 500),
        description=clip(_text(info, "description")),
        instruction=clip(_text(info, "instruction")),
        sender_name=clip(_text(info, "senderName"), 300),
        web=clip(_text(info, "web"), 500), effective=_time(_text(info, "effective")),
        expires=_time(_text(info, "expires")),
        parameters=_pairs(info, "parameter") if info is not None else (),
        areas=tuple(_area(a) for a in info.findall(_Q + "area")) if info is not None else ())


def feed_links(root: ElementTree.Element) -> list[str] | None:
    """The alerts an Atom feed or RSS 2.0 channel lists (their links, in order), or None
    when the document is no feed (then it should be an alert)."""
    if root.tag == "{" + ATOM + "}feed":
        links = []
        for entry in root.findall("{" + ATOM + "}entry"):
            chosen = None
            for link in entry.findall("{" + ATOM + "}link"):
                kind = link.get("type", "")
                if link.get("href") and (chosen is None or "cap" in kind or "xml" in kind):
                    chosen = link.get("href")
            if chosen:
                links.append(chosen.strip())
        return links
    if root.tag == "rss":
        return [(item.findtext("link") or "").strip()
                for item in root.iter("item") if (item.findtext("link") or "").strip()]
    return None


# ---- CAP out --------------------------------------------------------------------------


def cap_time(value: datetime) -> str:
    """CAP's dateTime: seconds and a numeric offset, never "Z" (the schema's pattern)."""
    text = value.replace(microsecond=0).isoformat()
    return text.replace("+00:00", "-00:00") if text.endswith("+00:00") else text


def build_alert(*, identifier: str, sender: str, sent: datetime, info: Mapping[str, Any],
                status: str = "Actual", msg_type: str = "Alert", scope: str = "Public",
                note: str = "", references: str = "",
                areas: Sequence[Mapping[str, Any]] = (),
                more_info: Sequence[Mapping[str, Any]] = ()) -> bytes:
    """One CAP 1.2 alert with one `info`, as UTF-8 XML. `info` keys: language, category,
    event, urgency, severity, certainty, expires (datetime), sender_name, headline,
    description, instruction, parameters ((name, value) pairs). `areas`: desc, polygons
    (lists of (lat, lon)), circles ((lat, lon, km)), geocodes ((name, value)). Each of
    `more_info` is one more `info` (the same message in another language: CAP's way),
    `info` with these keys replaced, over the same areas."""
    ElementTree.register_namespace("", NS)
    sub = _sub
    root = ElementTree.Element(_Q + "alert")
    sub(root, "identifier", identifier)
    sub(root, "sender", sender)
    sub(root, "sent", cap_time(sent))
    sub(root, "status", status)
    sub(root, "msgType", msg_type)
    sub(root, "scope", scope)
    if note:
        sub(root, "note", note)
    if references:
        sub(root, "references", references)
    for one in (info, *({**info, **extra} for extra in more_info)):
        _write_info(sub(root, "info"), one, areas)
    body: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _sub(parent: ElementTree.Element, name: str, text: str | None = None) -> ElementTree.Element:
    child = ElementTree.SubElement(parent, _Q + name)
    if text is not None:
        child.text = text
    return child


def _pair(parent: ElementTree.Element, name: str, key: str, value: str) -> None:
    element = _sub(parent, name)
    _sub(element, "valueName", key)
    _sub(element, "value", value)


def _write_info(element: ElementTree.Element, info: Mapping[str, Any],
                areas: Sequence[Mapping[str, Any]]) -> None:
    sub, pair = _sub, _pair
    sub(element, "language", info.get("language", "id-ID"))
    sub(element, "category", info.get("category", "Safety"))
    sub(element, "event", info["event"])
    sub(element, "urgency", info.get("urgency", "Immediate"))
    sub(element, "severity", info.get("severity", "Severe"))
    sub(element, "certainty", info.get("certainty", "Observed"))
    if info.get("expires") is not None:
        sub(element, "expires", cap_time(info["expires"]))
    for key in ("sender_name", "headline", "description", "instruction"):
        if info.get(key):
            sub(element, "senderName" if key == "sender_name" else key, str(info[key]))
    for key, value in info.get("parameters", ()):
        pair(element, "parameter", key, value)
    for area in areas:
        a = sub(element, "area")
        sub(a, "areaDesc", area["desc"])
        for points in area.get("polygons", ()):
            sub(a, "polygon", " ".join(f"{lat},{lon}" for lat, lon in points))
        for lat, lon, km in area.get("circles", ()):
            sub(a, "circle", f"{lat},{lon} {km}")
        for key, value in area.get("geocodes", ()):
            pair(a, "geocode", key, value)
