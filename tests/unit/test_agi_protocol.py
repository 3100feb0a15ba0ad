from __future__ import annotations

import pytest

from ntpd_ivr.agi.protocol import AgiReply, ReplyAssembler, parse_reply_line, parse_request
from ntpd_ivr.errors import AgiProtocolError

# What Asterisk 22 res_agi.c sends for AGI(agi://127.0.0.1:4573/emergency-ivr,id,,x y).
ASTERISK_HEADERS = [
    "agi_network: yes",
    "agi_network_script: emergency-ivr",
    "agi_request: agi://127.0.0.1:4573/emergency-ivr",
    "agi_channel: PJSIP/trunk-telkom-00000007",
    "agi_language: id",
    "agi_type: PJSIP",
    "agi_uniqueid: 1732771200.42",
    "agi_version: 22.10.1",
    "agi_callerid: 081234567890",
    "agi_calleridname: Budi Santoso",
    "agi_callingpres: 0",
    "agi_callingani2: 0",
    "agi_callington: 0",
    "agi_callingtns: 0",
    "agi_dnid: 112",
    "agi_rdnis: unknown",
    "agi_context: from-trunk",
    "agi_extension: 112",
    "agi_priority: 3",
    "agi_enhanced: 0.0",
    "agi_accountcode: ",
    "agi_threadid: 140123456789",
    "agi_arg_1: id",
    "agi_arg_2: ",
    "agi_arg_3: x y",
]


def test_parse_request_from_asterisk_headers() -> None:
    request = parse_request(ASTERISK_HEADERS)
    assert request.script == "emergency-ivr"
    assert request.args == ("id", "", "x y")
    assert (request.uniqueid, request.channel) == ("1732771200.42", "PJSIP/trunk-telkom-00000007")
    assert (request.caller_number, request.caller_name) == ("081234567890", "Budi Santoso")
    assert (request.context, request.extension, request.priority) == ("from-trunk", "112", "3")
    assert (request.language, request.dnid, request.threadid) == ("id", "112", "140123456789")
    assert request.headers["agi_rdnis"] == "unknown"
    assert request.headers["agi_accountcode"] == ""
    assert request.headers["agi_network"] == "yes"
    with pytest.raises(TypeError):
        request.headers["agi_callerid"] = "spoofed"  # type: ignore[index]


@pytest.mark.parametrize(
    ("lines", "script"),
    [
        (["agi_network_script: emergency-ivr", "agi_uniqueid: 1.1"], "emergency-ivr"),
        (["agi_network_script: emergency-ivr?lang=id", "agi_uniqueid: 1.1"], "emergency-ivr"),
        (["agi_request: agi://10.0.0.5:4573/callback?x=1", "agi_uniqueid: 1.1"], "callback"),
        (["agi_request: agi://10.0.0.5/a/b", "agi_uniqueid: 1.1"], "a/b"),
        (["agi_request: agi://10.0.0.5", "agi_uniqueid: 1.1"], ""),
        # Without a trailing space an empty value still parses.
        (["agi_network_script:x", "agi_uniqueid: 1.1", "agi_callerid:"], "x"),
    ],
)
def test_parse_request_script(lines: list[str], script: str) -> None:
    assert parse_request(lines).script == script


def test_parse_request_missing_optional_headers_are_empty() -> None:
    request = parse_request(["agi_network_script: s", "agi_uniqueid: 9.9"])
    assert request.args == ()
    assert request.caller_number == request.caller_name == request.channel == ""
    assert request.dnid == request.threadid == request.priority == ""


def test_parse_request_args_stop_at_first_gap() -> None:
    request = parse_request(["agi_network_script: s", "agi_uniqueid: 1",
                             "agi_arg_1: a", "agi_arg_3: c"])
    assert request.args == ("a",)


@pytest.mark.parametrize(
    "lines",
    [
        ["agi_uniqueid: 1.1"],
        ["agi_network_script: emergency-ivr"],
        ["agi_network_script: emergency-ivr", "agi_uniqueid: "],
        ["agi_network_script: emergency-ivr", "agi_uniqueid: 1.1", "no colon here"],
        ["agi_network_script: emergency-ivr", "agi_uniqueid: 1.1", ": value"],
        ["agi_network_script: emergency-ivr", "agi_uniqueid: 1.1", "bad key: v"],
        ["GET / HTTP/1.1", "Host: example"],
        [],
    ],
)
def test_parse_request_rejects(lines: list[str]) -> None:
    with pytest.raises(AgiProtocolError):
        parse_request(lines)


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "endpos"),
    [
        ("200 result=1", 200, "1", None, None),
        ("200 result=0 (timeout)", 200, "0", "timeout", None),
        ("200 result=-1", 200, "-1", None, None),
        ("200 result=49 endpos=12345", 200, "49", None, 12345),
        ("200 result=1 (some value with spaces)", 200, "1", "some value with spaces", None),
        ("200 result=1 (a (nested) value)", 200, "1", "a (nested) value", None),
        ("200 result=1 ()", 200, "1", "", None),
        ("200 result= (timeout)", 200, "", "timeout", None),
        ("200 result=123 (timeout)", 200, "123", "timeout", None),
        ("200 result=0 (timeout) endpos=8000", 200, "0", "timeout", 8000),
        ("200 result=1 (digit) digit=5 endpos=1600", 200, "1", "digit", 1600),
        ("200 result=-1 endpos=0", 200, "-1", None, 0),
        ("200 result=0 Gosub complete", 200, "0", None, None),
        ("100 result=0 Trying...", 100, "0", None, None),
        ("503 result=-2 Memory allocation failure", 503, "-2", None, None),
        ("510 Invalid or unknown command", 510, None, None, None),
        ("511 Command Not Permitted on a dead channel or intercept routine",
         511, None, None, None),
        ("520 Invalid command syntax.  Proper usage not available.", 520, None, None, None),
    ],
)
def test_parse_reply_line(line: str, code: int, result: str | None, data: str | None,
                          endpos: int | None) -> None:
    reply = parse_reply_line(line)
    assert reply == AgiReply(code, result, data, endpos, line)
    assert reply.ok == (code == 200)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "HANGUP",
        "200",
        "200 ok",
        "200 result",
        "20 result=1",
        "2000 result=1",
        "600 result=1",
        "abc result=1",
        " 200 result=1",
        "520-Invalid command syntax.  Proper usage follows:",
        "agi_network: yes",
    ],
)
def test_parse_reply_line_rejects(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        parse_reply_line(line)


def test_assembler_multi_line_520_is_one_reply() -> None:
    assembler = ReplyAssembler()
    lines = [
        "520-Invalid command syntax.  Proper usage follows:",
        " Usage: GET DATA <file> [timeout] [maxdigits]",
        "",
        "200 result=1",  # usage text, not a reply
        "HANGUP",  # likewise: inside the block it is only text
        "520 End of proper usage.",
    ]
    assert [assembler.feed(line) for line in lines[:-1]] == [None] * 5
    reply = assembler.feed(lines[-1])
    assert reply == AgiReply(520, None, None, None, "\n".join(lines))
    assert not reply.ok
    # Back in step: the next line is the next command's reply.
    assert assembler.feed("200 result=1 (next)") == AgiReply(200, "1", "next", None,
                                                             "200 result=1 (next)")


def test_assembler_in_progress_only_inside_a_block() -> None:
    assembler = ReplyAssembler()
    assert not assembler.in_progress
    assembler.feed("520-Invalid command syntax.  Proper usage follows:")
    assert assembler.in_progress
    assembler.feed("520 End of proper usage.")
    assert not assembler.in_progress


@pytest.mark.parametrize("line", ["200 result=1", "510 Invalid or unknown command"])
def test_assembler_single_line(line: str) -> None:
    assert ReplyAssembler().feed(line) == parse_reply_line(line)


@pytest.mark.parametrize("line", ["garbage", "200 nope", "HANGUP"])
def test_assembler_rejects_malformed(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        ReplyAssembler().feed(line)


def test_assembler_rejects_endless_block() -> None:
    assembler = ReplyAssembler()
    assembler.feed("520-Invalid command syntax.  Proper usage follows:")
    with pytest.raises(AgiProtocolError):
        for _ in range(5000):
            assembler.feed("usage text")
