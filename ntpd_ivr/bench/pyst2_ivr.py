#!/usr/bin/python3
"""Benchmark baseline (c): the same 112 menu as the controller's FastAGI IVR, written the
classic way -- a pyst2 AGI script that Asterisk forks once per call (process per call).

It is NOT part of the service. `ntpd-ivr bench` copies it, with pyst2's pure-Python
`asterisk` package, into `<instance>/bench-agi/` inside the Asterisk root, where the
root's own python3 (+ python3-six) runs it:
    AGI(/srv/ntpd-ivr/<instance>/bench-agi/pyst2_ivr.py,<prompt>,<timeout ms>,<queue>)
The menu table mirrors the [menu] and [categories] of config/routing.example.toml (no
imports from ntpd_ivr: the root's Python does not have it).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from asterisk.agi import AGI, AGIException

MENU = {"1": ("ambulance", 10), "2": ("fire", 10), "3": ("police", 8), "4": ("disaster", 8)}


def decide(digit: str) -> tuple[str, int, str]:
    if digit == "":
        return "unclassified", 5, "no-input"
    if digit == "0":
        return "unclassified", 5, "operator-requested"
    if digit in MENU:
        category, priority = MENU[digit]
        return category, priority, "menu"
    return "unclassified", 5, "invalid-input"


def main() -> None:
    agi = AGI()
    prompt = agi.env.get("agi_arg_1", "")
    timeout = int(agi.env.get("agi_arg_2", "3000") or 3000)
    queue = agi.env.get("agi_arg_3", "") or "takers-default"
    try:
        digit = agi.get_data(prompt, timeout, 1) or ""
    except AGIException:
        digit = ""
    category, priority, reason = decide(digit)
    agi.set_variable("NTPD_DIGIT", digit)
    agi.set_variable("NTPD_CATEGORY", category)
    agi.set_variable("NTPD_ROUTE_REASON", reason)
    agi.set_variable("QUEUE_PRIO", str(priority))
    agi.set_variable("NTPD_QUEUE", queue)


if __name__ == "__main__":
    main()
