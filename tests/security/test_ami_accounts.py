"""AMI least privilege (issue 19, item 4), against the real Asterisk 22: the controller's
account cannot run programs, the CLI or rewrite the configuration; the other node's
account (two-node layout) cannot place or move calls. Each refusal is Asterisk's own
("Permission denied"), and next to it the account is shown to work for what it needs,
so that a refusal cannot come from a broken login."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ntpd_ivr.ami.accounts import PEER, PEER_FILE, render_peer_account
from ntpd_ivr.errors import AmiError
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import LOOPBACK, DevStack
from tests.stack_fixtures import Controller

from .agi_ami_fixtures import ami_session

pytestmark = pytest.mark.e2e

# Originate to the System() application: with `write=originate` alone Asterisk demands
# `system` too (manager.c, originate_app_permissions). The channel leads nowhere, so even
# where the hole is open nothing runs: the answer is all this test looks at.
ORIGINATE_SYSTEM = {"Action": "Originate", "Channel": "Local/none@ntpd-no-such-context",
                    "Application": "System", "Data": "true", "Async": "true"}
ORIGINATE_CONTEXT = {"Action": "Originate", "Channel": "Local/none@ntpd-no-such-context",
                     "Context": "ntpd-no-such-context", "Exten": "s", "Priority": "1",
                     "Async": "true"}


async def _refused(ami: object, action: dict[str, str]) -> str:
    assert hasattr(ami, "action")
    with pytest.raises(AmiError) as refused:
        await ami.action(dict(action))
    return str(refused.value)


async def test_the_controllers_account_cannot_run_programs_the_cli_or_config(
        stack: DevStack, running_controller: Controller) -> None:
    ami_settings = load_settings(stack.layout.settings_file).ami
    async with ami_session(stack, ami_settings.username, ami_settings.secret) as ami:
        # What the controller's features need still works.
        listed = await ami.action({"Action": "CoreShowChannels"})
        assert listed.response.response == "Success"
        for action in (ORIGINATE_SYSTEM,
                       {**ORIGINATE_SYSTEM, "Application": "Exec", "Data": "System(true)"},
                       {"Action": "Command", "Command": "core show uptime"},
                       {"Action": "DBPut", "Family": "ntpd-test", "Key": "k", "Val": "v"},
                       {"Action": "ModuleLoad", "Module": "app_system.so",
                        "LoadType": "load"},
                       {"Action": "Reload", "Module": "pbx_config.so"},
                       {"Action": "UpdateConfig", "SrcFilename": "extensions.conf",
                        "DstFilename": "extensions.conf", "Reload": "no"}):
            message = await _refused(ami, action)
            # Originate checks its application itself: "Originate Access Forbidden".
            assert "Permission denied" in message or "Access Forbidden" in message, (
                action, message)


async def test_config_reload_still_works_with_its_own_account(
        stack: DevStack, running_controller: Controller) -> None:
    ami_settings = load_settings(stack.layout.settings_file).ami.reload_account()
    assert ami_settings.username == "ntpd-ivr-reload"
    async with ami_session(stack, ami_settings.username, ami_settings.secret) as ami:
        reloaded = await ami.action({"Action": "Reload", "Module": "app_queue.so"})
        assert reloaded.response.response == "Success"
        assert "Permission denied" in await _refused(ami, ORIGINATE_CONTEXT)
        assert "Permission denied" in await _refused(
            ami, {"Action": "Command", "Command": "core show uptime"})


@pytest.fixture
def peer_account(stack: DevStack) -> Iterator[str]:
    """The other node's account as the two-node stack renders it (hastack.py), loaded
    into this stack's Asterisk; removed afterwards."""
    assert stack.asterisk is not None
    path = stack.asterisk.host_path(stack.asterisk.etc) / PEER_FILE
    secret = stack.secrets["ami_peer_secret"]
    path.write_text(render_peer_account(secret, (LOOPBACK,)), encoding="utf-8")
    stack.asterisk.cli("manager reload")
    try:
        yield secret
    finally:
        path.unlink()
        stack.asterisk.cli("manager reload")


async def test_the_peer_account_reads_but_cannot_originate_or_move_calls(
        stack: DevStack, running_controller: Controller, peer_account: str) -> None:
    async with ami_session(stack, PEER.name, peer_account) as ami:
        listed = await ami.action({"Action": "CoreShowChannels"})
        assert listed.response.response == "Success"
        await ami.action({"Action": "QueueStatus"})
        for action in (ORIGINATE_CONTEXT, ORIGINATE_SYSTEM,
                       {"Action": "Redirect", "Channel": "PJSIP/none-00000000",
                        "Context": "ntpd-no-such-context", "Exten": "s", "Priority": "1"},
                       {"Action": "Hangup", "Channel": "PJSIP/none-00000000"},
                       {"Action": "Setvar", "Variable": "NTPD_TEST", "Value": "1"},
                       {"Action": "Command", "Command": "core show uptime"}):
            message = await _refused(ami, action)
            assert "Permission denied" in message, (action, message)
