"""The [sms] settings section: Kannel's ports and passwords, the SMSC it talks to, our
receiver for its get-url, and the outbox's retry bound. Validated with the rest of the
settings (ntpd_ivr/settings.py); every error names the file and the key."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ntpd_ivr.errors import ConfigError

SMSC_KINDS = ("fake", "smpp")


@dataclass(frozen=True)
class SmsSettings:
    # Off: no Kannel, no outbox, no receiver. `make run` turns it on with a fake SMSC.
    enabled: bool = False
    # Kannel's own ports, all on loopback (ntpd_ivr/stack/kannel.py renders kannel.conf).
    admin_port: int = 13000
    smsbox_port: int = 13001
    sendsms_port: int = 13013
    admin_password: str = ""
    sendsms_username: str = "ntpd"
    sendsms_password: str = ""
    # The SMSC: `fake` (Kannel's fake SMSC connects to smsc_port; tests, `make run`) or
    # `smpp` (the operator's SMSC at smsc_host:smsc_port, with its system-id and password).
    smsc: str = "fake"
    smsc_host: str = "127.0.0.1"
    smsc_port: int = 13010
    smpp_system_id: str = ""
    smpp_password: str = ""
    smpp_system_type: str = ""
    # Our sender: the center's short code or number, as the caller's phone shows it.
    sender: str = "112"
    # Our receiver for smsbox's get-url and the delivery reports (ntpd_ivr/sms/http.py),
    # and the secret every request from Kannel carries (query `key`); empty: refused.
    receiver_host: str = "127.0.0.1"
    receiver_port: int = 13080
    shared_secret: str = ""
    # Every request to sendsms is bounded; an SMS Kannel did not accept is tried again
    # every retry_seconds, at most max_attempts times and never after expire_minutes.
    request_timeout_seconds: float = 5.0
    retry_seconds: float = 5.0
    max_attempts: int = 20
    expire_minutes: float = 30.0


def validate_sms(sms: SmsSettings, where: str) -> None:
    if not sms.enabled:
        return
    for key in ("admin_port", "smsbox_port", "sendsms_port", "smsc_port", "receiver_port"):
        value = getattr(sms, key)
        if not 0 < value < 65536:
            raise ConfigError(f"{where}: sms.{key} must be 1-65535, got {value}")
    for key in ("admin_password", "sendsms_password", "shared_secret"):
        if len(getattr(sms, key)) < 16:
            raise ConfigError(f"{where}: sms.{key} must be at least 16 characters "
                              "(`make run` generates them; Kannel's defaults are never used)")
    if sms.smsc not in SMSC_KINDS:
        raise ConfigError(f"{where}: sms.smsc must be one of {', '.join(SMSC_KINDS)}, "
                          f"got {sms.smsc!r}")
    if sms.smsc == "smpp" and (not sms.smpp_system_id or not sms.smpp_password):
        raise ConfigError(f"{where}: sms.smsc is smpp: sms.smpp_system_id and "
                          "sms.smpp_password must be set (the operator gives them)")
    for key in ("smsc_host", "receiver_host"):
        try:
            ipaddress.ip_address(getattr(sms, key))
        except ValueError:
            raise ConfigError(f"{where}: sms.{key} must be an IP address, "
                              f"got {getattr(sms, key)!r}") from None
    if not sms.sender.lstrip("+").isdigit():
        raise ConfigError(f"{where}: sms.sender must be a number, got {sms.sender!r}")
    for key in ("request_timeout_seconds", "retry_seconds", "max_attempts", "expire_minutes"):
        if getattr(sms, key) <= 0:
            raise ConfigError(f"{where}: sms.{key} must be positive")
