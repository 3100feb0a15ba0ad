"""The calls pipeline as a plugin: AMI events -> tracker -> recorder -> the record keeper
(core) -> spool -> row; the CDR reconciler when `records.cdr_csv` is set."""

from __future__ import annotations

from pathlib import Path

from ntpd_ivr.calls.events import CallAnswered
from ntpd_ivr.calls.reconcile import Reconciler
from ntpd_ivr.calls.recorder import CallRecorder
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.core import Core, Key, Plugin, Start, Stop

TRACKER = Key("calls-tracker", CallTracker)


def load(core: Core) -> Plugin:
    settings = core.settings.records
    tracker = CallTracker()
    reconciler = (Reconciler(Path(settings.cdr_csv), core.engine, core.records, tracker)
                  if settings.cdr_csv else None)
    recorder = CallRecorder(core.records, tracker, reconciler, core.confirmations)
    if reconciler is not None:
        core.confirmations.cdr_configured = True
        reconciler.on_cdr_read = core.confirmations.cdr_read

    def answered(answer_seconds: float, queue_wait_seconds: float | None) -> None:
        core.bus.publish(CallAnswered(answer_seconds, queue_wait_seconds))
    tracker.on_answer = answered  # one event per answer (the metrics observe it)
    core.services.provide(TRACKER, tracker)

    async def resync() -> None:
        await recorder.resync(core.ami)

    async def start() -> None:
        if reconciler is not None:
            reconciler.trigger()

    return Plugin("calls", on_ami_event=recorder.on_event, on_ami_login=resync,
                  start=start, start_phase=Start.RECONCILE,
                  stop=reconciler.stop if reconciler is not None else None,
                  stop_phase=Stop.RECONCILE)
