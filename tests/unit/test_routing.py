import pytest

from ntpd_ivr.routing.decide import decide


@pytest.mark.parametrize(("digit", "category", "priority", "reason"), [
    ("1", "ambulance", 10, "menu"),
    ("2", "fire", 10, "menu"),
    ("3", "police", 8, "menu"),
    ("4", "disaster", 8, "menu"),
    ("0", "unclassified", 5, "operator-requested"),
    ("", "unclassified", 5, "no-input"),
    ("9", "unclassified", 5, "invalid-input"),
    ("*", "unclassified", 5, "invalid-input"),
    ("12", "unclassified", 5, "invalid-input"),
])
def test_every_input_reaches_a_queue(digit: str, category: str, priority: int,
                                     reason: str) -> None:
    decision = decide(digit, "takers-default")
    assert (decision.queue, decision.category, decision.priority, decision.reason) == (
        "takers-default", category, priority, reason)


def test_life_threatening_categories_outrank_the_rest() -> None:
    assert decide("1", "q").priority > decide("3", "q").priority > decide("", "q").priority
