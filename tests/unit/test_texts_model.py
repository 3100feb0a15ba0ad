"""112 by text: the session rules (texts/model.py) and the `[texts]` config (texts/config.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError, Refusal
from ntpd_ivr.routing.config import load_routing_config, parse_routing_config
from ntpd_ivr.texts import model
from ntpd_ivr.texts.config import DEFAULT_ACK, TextsConfig
from ntpd_ivr.texts.model import Session

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def session(**kw: object) -> Session:
    values: dict[str, object] = {"uniqueid": "sms-1", "caller_number": "+628111",
                                 "region": "sumsel", "queue": "takers-default",
                                 "category": "unclassified", "opened_at": T0}
    values.update(kw)
    return Session(**values)  # type: ignore[arg-type]


def test_the_example_config_has_the_texts_section() -> None:
    texts = load_routing_config(EXAMPLE).texts
    assert texts.ack_text == DEFAULT_ACK
    assert texts.short_codes == ("112",)
    assert [q.id for q in texts.quick_replies] == ["where", "injured", "safe", "coming"]
    assert texts.quick("where") is not None
    assert texts.quick("where").text("id") == "Di mana lokasi Anda?"  # type: ignore[union-attr]
    assert texts.quick("where").text("en") == "Where are you?"  # type: ignore[union-attr]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("offer_timeout_seconds = 60", "offer_timeout_seconds = 1", "texts.offer_timeout_seconds: "
                                                                "must be 5-3600"),
    ("offer_timeout_seconds = 60", 'offer_timeout_seconds = "60"',
     "texts.offer_timeout_seconds: expected int"),
    ('category = "unclassified"     #', 'category = "sms"  #', "texts.category: no category"),
    ('short_codes = ["112"]', 'short_codes = ["1 1 2"]', "texts.short_codes: a list of numbers"),
    ("flood_per_minute = 6 ", "flood_per_minute = 0 ", "texts.flood_per_minute: must be 1-600"),
    ("max_body_chars = 459", "max_body_chars = 5000", "texts.max_body_chars: must be 20-459"),
    ('{ id = "where",', '{ id = "Where!",', "texts.quick_replies[0].id: a new name"),
    ('{ id = "safe",', '{ id = "where",', "texts.quick_replies[2].id: a new name"),
    ('en_text = "Where are you?" }', 'en_text = "" }', "texts.quick_replies[0].en_text: 1-459"),
    ("flood_per_minute = 6 ", "flod_per_minute = 6 ", "texts.flod_per_minute: unknown key"),
])
def test_a_bad_texts_value_names_the_file_and_the_key(old: str, new: str, message: str) -> None:
    text = EXAMPLE.read_text()
    assert old in text, old
    with pytest.raises(ConfigError, match=r"routing\.toml: " + message.replace("[", r"\[")
                       .replace("]", r"\]").replace(".", r"\.")):
        parse_routing_config(text.replace(old, new, 1), "routing.toml")


def test_states_and_who_may_act() -> None:
    s = session()
    assert s.state == "offered"
    with pytest.raises(model.NotTaken):
        s.check_owner("ani")
    with pytest.raises(model.NotOffered) as refused:
        s.check_take("budi", eligible=False)
    assert refused.value.status == 403
    assert s.check_take("ani", eligible=True) is False  # may take it
    s.taken_by = "ani"
    assert s.state == "taken"
    assert s.check_take("ani", eligible=True) is True  # already hers
    with pytest.raises(model.TakenByOther) as taken:
        s.check_take("budi", eligible=True)
    assert (taken.value.status, taken.value.error) == (409, "taken")
    s.check_owner("ani")
    with pytest.raises(model.NotYours) as other:
        s.check_owner("budi")
    assert (other.value.status, other.value.error) == (403, "not-yours")
    s.ended = True
    assert s.state == "ended"
    for act in (lambda: s.check_owner("ani"), lambda: s.check_take("ani", eligible=True)):
        with pytest.raises(model.Ended):
            act()


def test_the_flood_limit_counts_a_sliding_minute() -> None:
    s = session()
    assert [s.flooded(T0 + timedelta(seconds=n), 3) for n in range(5)] == [
        False, False, False, True, True]
    assert s.flooded(T0 + timedelta(seconds=64), 3) is False  # the first five have aged out


def test_a_reply_body_is_bounded_text_or_a_known_quick_reply() -> None:
    config = TextsConfig(max_body_chars=20)
    assert model.reply_body({"body": "  Tetap di tempat \r\n"}, config, "id") == "Tetap di tempat"
    assert model.reply_body({"quick": "injured"}, config, "en") == "Is anyone injured?"
    assert model.reply_body({"quick": "injured"}, config, "id") == "Apakah ada yang terluka?"
    refusals = [({"body": "x" * 21}, 413), ({"body": ""}, 400), ({"body": 5}, 400),
                ({}, 400), ({"quick": "nope"}, 400), ({"quick": "where", "body": "x"}, 400),
                ({"body": "a\x07b"}, 400), ({"quick": ["where"]}, 400)]
    for body, status in refusals:
        with pytest.raises(Refusal) as refused:
            model.reply_body(body, config, "id")
        assert refused.value.status == status, body
        assert refused.value.reason


def test_html_is_kept_as_text() -> None:
    body = "<script>alert(1)</script>"
    assert model.reply_body({"body": body}, TextsConfig(), "id") == body
    assert model.message_json({"id": 1, "direction": "in", "body": body, "author": "+62",
                               "at": T0})["body"] == body


def test_offered_to_logged_in_desks_that_accept_text() -> None:
    users = [("ani", "taker-1"), ("budi", "taker-2"), ("citra", None), ("dedi", "taker-3")]
    queues = {"taker-1": ["takers-default"], "taker-2": ["takers-default", "takers-muba"],
              "taker-3": ["takers-muba"]}
    accepts = {"ani": True, "budi": False, "citra": True, "dedi": True}
    assert model.eligible_users(users, "takers-default", queues, accepts) == ["ani"]
    assert model.eligible_users(users, "takers-muba", queues, accepts) == ["dedi"]
    accepts["budi"] = True
    assert model.eligible_users(users, "takers-default", queues, accepts) == ["ani", "budi"]


def test_json_of_a_session_and_a_message() -> None:
    s = session(taken_by="ani")
    assert s.to_json() == {"uniqueid": "sms-1", "caller_number": "+628111",
                           "region": "sumsel", "category": "unclassified", "state": "taken",
                           "opened_at": T0.isoformat(), "taken_by": "ani",
                           "unanswered": False, "priority": 0, "standing": {},
                           "messages": [], "history": []}
    row = {"id": 3, "direction": "out", "body": "ok", "author": "ani", "at": T0,
           "outbox_status": "accepted", "flagged": False}
    assert model.message_json(row) == {"id": 3, "direction": "out", "body": "ok",
                                       "author": "ani", "at": T0.isoformat(),
                                       "delivery": "sent", "flagged": False}
    assert [model.delivery_of(s) for s in ("queued", "accepted", "delivered", "undelivered",
                                           "failed", None)] == [
        "queued", "sent", "delivered", "failed", "failed", None]
    assert model.message_json({**row, "direction": "in"})["delivery"] is None


def test_a_session_id_is_never_an_asterisk_uniqueid() -> None:
    assert model.uniqueid_of(42) == "sms-42"
    assert model.is_text_session("sms-42") and not model.is_text_session("1732771200.42")


def test_accepts_is_a_boolean() -> None:
    assert model.accepts_value({"accepts": False}) is False
    for body in ({}, {"accepts": "yes"}, {"accepts": 1}):
        with pytest.raises(Refusal):
            model.accepts_value(body)


def test_text_figures_time_to_first_reply_and_categories() -> None:
    from ntpd_ivr.reports.model import TextRow, text_figures

    def row(reply_s: float | None, **kw: object) -> TextRow:
        first = T0 + timedelta(seconds=reply_s) if reply_s is not None else None
        return TextRow(arrived_at=T0, first_reply_at=first,
                       taken_at=T0 if reply_s is not None else None, **kw)  # type: ignore[arg-type]
    rows = [row(float(s), category="fire", ended_at=T0) for s in range(10, 110, 10)]
    rows += [row(None, unanswered_at=T0), row(None, category="police")]
    figures = text_figures(rows)
    assert figures == {"sessions": 12, "taken": 10, "unanswered": 1, "replied": 10,
                       "in_progress": 2, "first_reply_p50_seconds": 50.0,
                       "first_reply_p90_seconds": 90.0,
                       "by_category": {"fire": 10, "police": 1, "unclassified": 1}}
    assert text_figures([])["first_reply_p50_seconds"] is None
