"""The dev/test stack (`make run`) runs Kannel with its fake SMSC, configured from the
same [sms] settings the controller reads: an MT sent through its sendsms reaches the fake
SMSC. The SMS domain itself is tested in tests/integration/test_sms_kannel_db.py."""

from __future__ import annotations

import asyncio
import time

from ntpd_ivr.settings import load_settings
from ntpd_ivr.sms.gateway import KannelGateway
from ntpd_ivr.stack.devstack import DevStack


async def test_the_stack_runs_kannel_from_the_controllers_settings(stack: DevStack) -> None:
    assert stack.kannel is not None and stack.fake_smsc is not None
    assert stack.kannel.running()
    sms = load_settings(stack.layout.settings_file, environ={}).sms
    assert sms.enabled and sms.smsc == "fake" and sms.sendsms_port == stack.layout.sms_ports[2]
    gateway = KannelGateway(sms, f"http://127.0.0.1:{sms.receiver_port}")
    try:
        result = await gateway.send("+6281234567890", sms.sender, "uji stack", "token-e2e")
    finally:
        await gateway.close()
    assert result.accepted, result.detail
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if f"{sms.sender} +6281234567890 text uji stack" in stack.fake_smsc.received():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the fake SMSC did not print the MT: {stack.fake_smsc.received()}")
