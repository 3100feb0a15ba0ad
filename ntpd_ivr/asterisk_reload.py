"""Make a running Asterisk re-read its configuration over AMI, keeping live calls."""

from __future__ import annotations

from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.errors import StackError
from ntpd_ivr.settings import AmiSettings

# Reloading these keeps live calls, bridges and queue callers: dialplan, PJSIP (endpoints,
# auths, AORs, identifies), queues and their members.
ALL_MODULES = ("pbx_config.so", "res_pjsip.so", "app_queue.so")


async def reload_modules(settings: AmiSettings,
                         modules: tuple[str, ...] = ALL_MODULES) -> list[tuple[str, bool]]:
    """(module, succeeded) for each module, in order. Raises StackError without AMI.
    With the reload account (`ami.reload_*`): the controller's account may not Reload."""
    ami = AmiClient(settings.reload_account())
    await ami.start()
    try:
        if not await ami.wait_connected(timeout=10):
            raise StackError(f"AMI {settings.host}:{settings.port}: not connected")
        results = []
        for module in modules:
            reply = await ami.action({"Action": "Reload", "Module": module}, timeout=10)
            results.append((module, reply.response.response == "Success"))
        return results
    finally:
        await ami.stop()
