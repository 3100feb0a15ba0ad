"""FastAGI wire format (Asterisk 22 res_agi.c): session headers and command replies. No I/O."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ntpd_ivr.errors import AgiProtocolError

# Written by Asterisk on its own, between replies, once the channel is hung up
# (unless the dialplan set AGISIGHUP=no). It is never the reply to a command.
HANGUP_LINE = "HANGUP"

_HEADER_KEY = re.compile(r"[A-Za-z0-9_]+")
_STATUS = re.compile(r"(?P<code>[1-5]\d\d)(?:(?P<sep>[ -])(?P<body>.*))?")
# `result=<v>`, then an optional `(<data>)`, then free text such as `endpos=N`,
# `Gosub complete` or the speech fields. GET DATA sends `result= (timeout)` when no
# digit came; GET VARIABLE sends the raw value, so data runs to the *last* `)`.
_RESULT = re.compile(r"result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?P<rest>(?: .*)?)")
_ENDPOS = re.compile(r"(?:^|\s)endpos=(?P<endpos>-?\d+)(?=\s|$)")
_MAX_CONTINUATION_LINES = 1000


@dataclass(frozen=True)
class AgiRequest:
    script: str
    args: tuple[str, ...]
    uniqueid: str
    channel: str
    caller_number: str
    caller_name: str
    context: str
    extension: str
    priority: str
    language: str
    dnid: str
    threadid: str
    headers: Mapping[str, str]


def parse_request(lines: Sequence[str]) -> AgiRequest:
    """Build the request from the header lines Asterisk sends before the blank line."""
    headers: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.rstrip("\r\n").partition(":")
        if not sep or not _HEADER_KEY.fullmatch(key):
            raise AgiProtocolError(f"not an AGI header line: {line!r}")
        headers[key] = value[1:] if value.startswith(" ") else value
    if "agi_network_script" not in headers and "agi_request" not in headers:
        raise AgiProtocolError("AGI headers lack agi_request and agi_network_script")
    if not headers.get("agi_uniqueid"):
        raise AgiProtocolError("AGI headers lack agi_uniqueid")
    if "agi_network_script" in headers:
        script = headers["agi_network_script"]
    else:
        script = urlsplit(headers["agi_request"]).path
    args: list[str] = []
    while f"agi_arg_{len(args) + 1}" in headers:
        args.append(headers[f"agi_arg_{len(args) + 1}"])
    return AgiRequest(
        script=script.partition("?")[0].strip("/"),
        args=tuple(args),
        uniqueid=headers["agi_uniqueid"],
        channel=headers.get("agi_channel", ""),
        caller_number=headers.get("agi_callerid", ""),
        caller_name=headers.get("agi_calleridname", ""),
        context=headers.get("agi_context", ""),
        extension=headers.get("agi_extension", ""),
        priority=headers.get("agi_priority", ""),
        language=headers.get("agi_language", ""),
        dnid=headers.get("agi_dnid", ""),
        threadid=headers.get("agi_threadid", ""),
        headers=types.MappingProxyType(headers),
    )


@dataclass(frozen=True)
class AgiReply:
    code: int
    result: str | None
    data: str | None
    endpos: int | None
    text: str

    @property
    def ok(self) -> bool:
        return self.code == 200


def parse_reply_line(line: str) -> AgiReply:
    """Parse a one-line reply such as `200 result=1 (value)` or `510 Invalid or unknown command`."""
    status = _STATUS.fullmatch(line)
    if status is None or status["sep"] == "-":
        raise AgiProtocolError(f"not an AGI reply line: {line!r}")
    code = int(status["code"])
    fields = _RESULT.fullmatch(status["body"] or "")
    if fields is None:
        if code == 200:
            raise AgiProtocolError(f"200 reply without result=: {line!r}")
        return AgiReply(code, None, None, None, line)
    endpos = _ENDPOS.search(fields["rest"])
    return AgiReply(code, fields["result"], fields["data"],
                    int(endpos["endpos"]) if endpos else None, line)


class ReplyAssembler:
    """Turns reply lines into replies; a `520-` usage error spans lines up to `520 ...`."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    @property
    def in_progress(self) -> bool:
        """True inside a multi-line reply, where every line is part of it."""
        return bool(self._lines)

    def feed(self, line: str) -> AgiReply | None:
        """Take one line (without its newline); return the reply it completes, if any."""
        if self._lines:
            self._lines.append(line)
            code = self._lines[0][:3]
            if line.startswith(code + " "):
                lines, self._lines = self._lines, []
                return AgiReply(int(code), None, None, None, "\n".join(lines))
            if len(self._lines) > _MAX_CONTINUATION_LINES:
                raise AgiProtocolError(f"multi-line {code} reply never ended")
            return None
        status = _STATUS.fullmatch(line)
        if status is not None and status["sep"] == "-":
            self._lines = [line]
            return None
        return parse_reply_line(line)
