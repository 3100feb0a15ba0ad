"""`ntpd-ivr bench-warning`: does a warning campaign take anything from 112 callers?

On one bench stack, path-a 112 load runs at `rate` (half the path's top rate by default)
in steps of `step_seconds`, interleaved: a step without a campaign, then a step while a
campaign calls its contacts (a SIPp stand-in answers and presses 1), and again for
`rounds` rounds, alternating which comes first. Each step reports the 112 callers' time
to a call-taker (p50, p99, from SIPp) and, with the campaign, the contacts reached per
minute (outcomes in PostgreSQL within the step). The summary gives the medians and the
ratio of the p99s; the goal is within 10 %.

The bench's call-takers are two SIPp stand-ins that each take any number of calls at once:
"free call-takers" means nothing for them, so the campaign's floor is set to 0 here; the
queue-wait hold (5 s) and pause (10 s) are the controller's defaults.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ntpd_ivr.bench.load import TakerPool, caller_prefix, run_calls, run_tag
from ntpd_ivr.bench.runner import controller_alive, wait_for_idle_asterisk, write_csv
from ntpd_ivr.bench.stack import BenchStack
from ntpd_ivr.stack.devstack import WARNING_IP
from ntpd_ivr.stack.sipp import Taker


def _progress(message: str) -> None:
    print(f"[bench-warning] {message}", flush=True)


@dataclass
class WarningStep:
    round: int
    campaign: bool
    rate: float
    seconds: float
    offered: int
    succeeded: int
    failed: int
    taker_p50_ms: float
    taker_p99_ms: float
    contacts_dialled: int
    contacts_reached: int
    reached_per_minute: float


def _line(step: WarningStep) -> str:
    text = (f"round {step.round} {'WITH   ' if step.campaign else 'without'} campaign: "
            f"112 path a {step.rate:g}/s {step.succeeded}/{step.offered} ok, to call-taker "
            f"p50 {step.taker_p50_ms:.0f} p99 {step.taker_p99_ms:.0f} ms")
    if step.campaign:
        text += (f"; contacts dialled {step.contacts_dialled}, reached "
                 f"{step.contacts_reached} = {step.reached_per_minute:.0f}/min")
    return text


def _contacts_csv(count: int, rounds: int, tag: str) -> str:
    # The stand-in confirms every number ending in 1 (sipp-scenarios/warning-contacts.xml);
    # each round's campaign targets its own desa.
    lines = ["name,number,role,kecamatan,desa,language"]
    lines += [f"Bench {i},0819{i:07d}1,kepala-desa,Bench-{tag},R{i * rounds // count},id"
              for i in range(count)]
    return "\n".join(lines) + "\n"


async def _prepare(settings_file: Path, contacts: int, rounds: int, tag: str) -> list[int]:
    """Contacts in, one campaign per round (each approved when its step starts)."""
    from ntpd_ivr.campaigns import model, store
    from ntpd_ivr.campaigns.service import create_campaign
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.settings import load_settings

    settings = load_settings(settings_file)
    engine = make_engine(settings.database)
    try:
        plan = model.parse_contacts_csv(_contacts_csv(contacts, rounds, tag))
        await store.import_contacts(engine, plan, "bench")
        ids = []
        for r in range(rounds):
            draft = model.CampaignDraft(
                f"bench {tag} round {r + 1}", "Uji peringatan dini. Ini hanya latihan.",
                model.Target(kecamatan=(f"Bench-{tag}",), desa=(f"R{r}",)), "warning-trunk",
                settings.warnings.caller_id or "+62711112", model.RetryPolicy(1))
            ids.append(int((await create_campaign(settings.warnings, engine, draft,
                                                  "bench"))["id"]))
        return ids
    finally:
        await engine.dispose()


async def _db(settings_file: Path, work: str, campaign_id: int,
              since: float = 0.0) -> tuple[int, int]:
    from sqlalchemy import text

    from ntpd_ivr.campaigns import store
    from ntpd_ivr.campaigns.exceptions import Conflict
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.settings import load_settings

    engine = make_engine(load_settings(settings_file).database)
    try:
        if work == "approve":
            await store.approve(engine, campaign_id, "bench-approver")
            return 0, 0
        if work == "cancel":
            try:
                await store.cancel(engine, campaign_id, "bench")
            except Conflict:
                pass  # finished already
            return 0, 0
        async with engine.connect() as conn:
            dialled = (await conn.execute(text(
                "SELECT count(*) FROM warning_attempts WHERE campaign_id = :c"),
                {"c": campaign_id})).scalar()
            reached = (await conn.execute(text(
                "SELECT count(*) FROM call_events WHERE kind = 'warning.outcome' "
                "AND (detail->>'campaign')::int = :c "
                "AND detail->>'outcome' IN ('confirmed', 'answered') "
                "AND at >= to_timestamp(:since)"), {"c": campaign_id, "since": since})).scalar()
        return int(dialled or 0), int(reached or 0)
    finally:
        await engine.dispose()


def bench_warning(*, contacts: int, rate: float, rounds: int, step_seconds: float,
                  talk_ms: int, max_channels: int, calls_per_second: float,
                  ramp_seconds: float, out: Path, keep: bool = False) -> int:
    out.mkdir(parents=True, exist_ok=True)
    # The controller reads these at start (environment overrides, ntpd_ivr/settings.py).
    os.environ.update({"NTPD_IVR_WARNINGS_MAX_CHANNELS": str(max_channels),
                       "NTPD_IVR_WARNINGS_CALLS_PER_SECOND": f"{calls_per_second:g}",
                       "NTPD_IVR_WARNINGS_MIN_FREE_TAKERS": "0",
                       "NTPD_IVR_WARNINGS_RAMP_SECONDS": f"{ramp_seconds:g}",
                       "NTPD_IVR_WARNINGS_KEY_TIMEOUT_SECONDS": "2"})
    stack = BenchStack(keep=keep)
    steps: list[WarningStep] = []
    try:
        stack.up()
        tag = run_tag()
        ids = asyncio.run(_prepare(stack.settings_file, contacts, rounds, tag))
        _progress(f"{contacts} contacts in {rounds} campaigns {ids}; 112 load {rate:g}/s, "
                  f"{step_seconds:g} s steps")
        ip, ports = stack.taker_contacts
        takers = TakerPool(ip, ports, talk_ms)
        phones = Taker(WARNING_IP, stack.dev.layout.warning_port, calls=10_000_000,
                       scenario="warning-contacts.xml", extra=("-max_socket", "50000"))
        try:
            for r in range(rounds):
                order = (False, True) if r % 2 == 0 else (True, False)
                for with_campaign in order:
                    steps.append(_step(stack, r + 1, with_campaign, ids[r], rate,
                                       step_seconds, talk_ms, tag, len(steps)))
                    _progress(_line(steps[-1]))
                    controller_alive(stack, f"round {r + 1}")
                    wait_for_idle_asterisk(stack)
        finally:
            phones.stop()
            takers.stop()
    finally:
        stack.down()
    write_csv(steps, out / "bench-warning.csv")
    summary = summarise(steps, contacts=contacts, rate=rate, rounds=rounds,
                        step_seconds=step_seconds, max_channels=max_channels,
                        calls_per_second=calls_per_second, ramp_seconds=ramp_seconds,
                        load_average=os.getloadavg())
    (out / "bench-warning-summary.txt").write_text(summary + "\n")
    print(summary, flush=True)
    return 0


def _step(stack: BenchStack, round_no: int, with_campaign: bool, campaign_id: int,
          rate: float, seconds: float, talk_ms: int, tag: str, seq: int) -> WarningStep:
    started = time.time()
    if with_campaign:
        asyncio.run(_db(stack.settings_file, "approve", campaign_id))
    result = run_calls(stack.target, "a", rate, seconds,
                       caller_prefix("a", tag, 500 + seq), talk_ms=talk_ms)
    dialled = reached = 0
    elapsed = max(1e-6, time.time() - started)
    if with_campaign:
        asyncio.run(_db(stack.settings_file, "cancel", campaign_id))
        dialled, reached = asyncio.run(_db(stack.settings_file, "count", campaign_id,
                                           since=started))
    return WarningStep(round_no, with_campaign, rate, seconds, result.offered,
                       result.succeeded, result.failed, result.taker_ms(50),
                       result.taker_ms(99), dialled, reached, reached * 60 / elapsed)


def summarise(steps: list[WarningStep], **conditions: Any) -> str:
    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    without = [s.taker_p99_ms for s in steps if not s.campaign]
    with_ = [s.taker_p99_ms for s in steps if s.campaign]
    base, loaded = median(without), median(with_)
    ratio = loaded / base if base else float("nan")
    lines = [f"[bench-warning] conditions: {conditions}"]
    lines += [f"[bench-warning] {_line(s)}" for s in steps]
    lines.append(f"[bench-warning] 112 time to call-taker p99, median of steps: without "
                 f"{base:.0f} ms, with campaign {loaded:.0f} ms, ratio {ratio:.3f} "
                 f"({'within' if ratio <= 1.10 else 'NOT within'} the 10 % goal)")
    lines.append(f"[bench-warning] contacts reached per minute (with campaign): median "
                 f"{median([s.reached_per_minute for s in steps if s.campaign]):.0f}")
    failed = sum(s.failed for s in steps)
    lines.append(f"[bench-warning] 112 calls failed: {failed} of "
                 f"{sum(s.offered for s in steps)}")
    return "\n".join(lines)


__all__ = ["WarningStep", "asdict", "bench_warning", "summarise"]
