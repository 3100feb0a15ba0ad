"""AMI in, call records out: the one place where an AMI event becomes records.

Every event goes through the tracker (which 112 call it is about, what it changes); trunk
attempts become steps; after each AMI login the live calls are picked up again; a call
whose end the tracker could not settle is handed to the CDR reconciliation.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import AmiActions, AmiEvent, CoreShowChannel, FullyBooted, Newchannel
from ntpd_ivr.calls.confirm import CallConfirmations
from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.reconcile import Reconciler
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.calls.values import CallUpdate, Record, live_112_calls, trunk_attempt_step
from ntpd_ivr.errors import AmiError

log = logging.getLogger(__name__)

# FullyBooted's Uptime is whole seconds, and a node on another machine has its own
# clock: a call is taken as older than the node only this much before its start.
BOOT_MARGIN_SECONDS = 2.0
# The name of the local node's AMI session among those that confirm calls.
LOCAL = "local"


def _report_spool_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a call record from AMI did not reach the spool: %s", future.exception())


class CallRecorder:
    def __init__(self, records: RecordKeeper, tracker: CallTracker,
                 reconciler: Reconciler | None,
                 confirmations: CallConfirmations | None = None) -> None:
        self.records = records
        self.tracker = tracker
        self.reconciler = reconciler
        self.confirmations = confirmations

    def _spool(self, record: Record) -> None:
        # Queued in order but not awaited (see RecordKeeper.submit): one consumer must not
        # wait an fsync per event. What a crash takes before the fsync comes back from the
        # resync at the next login and from the CDR.
        self.records.submit(record).add_done_callback(_report_spool_failure)

    def on_event(self, event: AmiEvent) -> None:
        """Never waits: records are queued for the spool (submit), not awaited."""
        if isinstance(event, FullyBooted):
            if event.uptime is not None and self.reconciler is not None:
                self.reconciler.node_started(
                    event.received_at - event.uptime - BOOT_MARGIN_SECONDS)
            return
        if (self.confirmations is not None and isinstance(event, Newchannel)
                and event.context in dp.CALLER_CONTEXTS):
            self.confirmations.seen(event.uniqueid)
        if (step := trunk_attempt_step(event)) is not None:
            self._spool(step)
        for record in self.tracker.apply(event):
            self._spool(record)
            if (self.reconciler is not None and isinstance(record, CallUpdate)
                    and record.uniqueid in self.tracker.unsettled):
                # Ended, but how (answered? by whom?) was lost with AMI: ask the CDR.
                self.reconciler.settle(record.uniqueid)

    async def resync(self, ami: AmiActions) -> None:
        """Events during a disconnect are lost: pick up the live calls again."""
        result = await ami.action({"Action": "CoreShowChannels"})
        channels = [e for e in result.events if isinstance(e, CoreShowChannel)]
        updates = self.tracker.resync(channels, now=time.time())
        for update in updates:
            await self.records.record(update)
        if self.confirmations is not None:
            for uniqueid in live_112_calls(channels):
                self.confirmations.seen(uniqueid)
            self.confirmations.resynced(LOCAL)
        log.info("AMI resync: %d live channel(s), %d 112 call(s) picked up again",
                 len(result.events), len(updates))
        if self.reconciler is not None:
            await self._identify_node(ami)
            # Calls that ended while AMI was away (or the controller was down) are in
            # Asterisk's CDR now.
            self.reconciler.trigger()

    async def _identify_node(self, ami: AmiActions) -> None:
        """Which node's uniqueids are ours (its systemname): asked after every login, as
        the Asterisk behind the address may have been reconfigured."""
        assert self.reconciler is not None
        try:
            result = await ami.action({"Action": "CoreSettings"})
        except AmiError as exc:
            log.warning("AMI CoreSettings: %s; calls cut by a node restart are left open "
                        "until the next login", exc)
            return
        self.reconciler.system_name = result.response.get("SystemName").strip()
