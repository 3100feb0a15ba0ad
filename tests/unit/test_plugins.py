"""The plugin list keeps today's wiring: start and stop in the same order, AMI events to
the same services in the same order, the same hub topics and /health keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ntpd_ivr.app import Service
from ntpd_ivr.settings import load_settings

START = ["records", "prank", "calls", "fastagi", "confirmations", "ami", "web", "warnings",
         "wall", "callbacks", "recordings", "transfer", "loop"]  # transfer: its resume
STOP = ["fastagi", "web", "eido", "dispatch", "warnings", "transfer", "tasks", "ami", "prank",
        "confirmations", "records", "database", "loop"]


@pytest.fixture
def service() -> Iterator[Service]:
    settings = load_settings(None, environ={}, overrides={
        "ami": {"secret": "not-used"},
        "database": {"url": "postgresql+asyncpg://nobody@127.0.0.1:9/none"}})
    yield Service(settings)  # nothing started: no connection is made


def test_plugins_start_and_stop_in_todays_order(service: Service) -> None:
    started = [p.name for p in sorted(service.plugins, key=lambda p: p.start_phase)
               if p.start is not None]
    stopped = [p.name for p in sorted(service.plugins, key=lambda p: p.stop_phase)
               if p.stop is not None]
    assert started == START and stopped == STOP


def test_ami_events_reach_dispatch_first_then_the_recorder_then_the_screens(
        service: Service) -> None:
    owners = [p.name for p in service.domains if p.on_ami_event is not None]
    assert owners == ["dispatch", "calls", "workspace", "warnings", "prank", "wall",
                      "callbacks", "transfer"]


def test_topics_and_health_keys(service: Service) -> None:
    assert service.hub.topics == {"notices": "calltaker", "incidents": "calltaker",
                                  "dispatches": "agency", "workspace": "calltaker",
                                  "warnings": "supervisor", "wall": "supervisor"}
    healthy, detail = service.health()
    assert not healthy and list(detail) == ["fastagi", "ami", "records", "loop", "live",
                                            "warnings", "prank", "status"]
