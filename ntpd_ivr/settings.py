"""Controller settings: defaults, then one TOML file, then environment, then command line.

Validated once at start-up. Every error names the file (or environment variable) and the
key, so a telecom engineer can fix a typo without reading a traceback.

Environment overrides are ``NTPD_IVR_<SECTION>_<KEY>``, e.g. ``NTPD_IVR_AMI_SECRET``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ntpd_ivr.agi.peers import check_secret, parse_allow_list  # imports errors only
from ntpd_ivr.configfile import read_toml
from ntpd_ivr.errors import ConfigError

ENV_PREFIX = "NTPD_IVR_"
# Variables under the prefix that are not settings: the config file's path, what the
# stack tools read (ntpd_ivr/stack/asterisk.py) and the tests' switch for the README's
# screenshots. Any other NTPD_IVR_ name must be a setting (a misspelt one is an error, not
# silently ignored).
ENV_NOT_SETTINGS = frozenset({"NTPD_IVR_CONFIG", "NTPD_IVR_ASTERISK_ROOT",
                              "NTPD_IVR_USE_SYSTEM_ASTERISK", "NTPD_IVR_DOCS_SCREENSHOTS"})


@dataclass(frozen=True)
class AgiSettings:
    host: str = "127.0.0.1"
    port: int = 4573
    # Asterisk has no read timeout on a FastAGI socket: if we stall, the caller hears
    # silence. We therefore bound how long we hold any one call; past it we close the
    # session and the dialplan's fallback queues the caller.
    call_budget_seconds: float = 12.0
    header_timeout_seconds: float = 2.0
    reply_timeout_seconds: float = 15.0
    shutdown_grace_seconds: float = 5.0
    # Exit (for the service manager to restart us) if the event loop freezes this long:
    # callers held in AGI then fall back to a queue. 0 disables. See ntpd_ivr/watchdog.py.
    loop_stall_exit_seconds: float = 5.0
    # Who may open a FastAGI session (ntpd_ivr/agi/peers.py): the Asterisk nodes'
    # addresses or networks, comma-separated. Anything else is closed at once.
    allow: str = "127.0.0.1, ::1"
    # When set, a session must also carry it (the dialplan global NTPD_AGI_SECRET, read
    # with GET VARIABLE). Empty: the address alone decides.
    secret: str = ""
    # A session's call must be seen on AMI (Newchannel, the resync's CoreShowChannels,
    # or the CDR) within this long of AMI time (AMI logged in all along), or it is closed
    # as `unconfirmed` (ntpd_ivr/calls/confirm.py).
    confirm_seconds: float = 30.0


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "ntpd-ivr"
    secret: str = ""
    action_timeout_seconds: float = 5.0
    ping_interval_seconds: float = 5.0
    ping_timeout_seconds: float = 3.0
    reconnect_delay_seconds: float = 1.0
    # `ntpd-ivr config reload` and `ntpd-ivr taker` reload Asterisk with this account
    # (write=config only): the controller's own account may not (docs/security.md, "AMI
    # accounts"). Empty secret: they try the controller's account, which Asterisk refuses.
    reload_username: str = "ntpd-ivr-reload"
    reload_secret: str = ""

    def reload_account(self) -> AmiSettings:
        """These settings with the reload account, when one is set."""
        if not self.reload_secret:
            return self
        return dataclasses.replace(self, username=self.reload_username,
                                   secret=self.reload_secret)


@dataclass(frozen=True)
class AmiPeerSettings:
    """The other node's AMI, for the screens only (docs/ha.md); empty host: one node."""

    host: str = ""
    port: int = 5038
    # The other node's read-only account (`ntpd-ivr-peer` in its manager.conf): events,
    # lists and the desk's presence (QueueAdd/QueueRemove/QueuePause), nothing else.
    username: str = "ntpd-ivr-peer"
    secret: str = ""
    name: str = "peer"  # the other node's name on the wall, e.g. "node-b"
    local_name: str = "local"  # this controller's node, e.g. "node-a"

    def ami(self, like: AmiSettings) -> AmiSettings:
        """As AmiSettings, with the local AMI's timeouts and reconnect delay."""
        return dataclasses.replace(like, host=self.host, port=self.port,
                                   username=self.username, secret=self.secret)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""  # the controller's role: rows only, audit_events INSERT/SELECT only
    # The role that owns the tables, for `ntpd-ivr db upgrade` (which then grants `url`'s
    # role its rights). Empty: one role for both (docs/security.md says what that allows).
    owner_url: str = ""
    connect_timeout_seconds: float = 3.0
    statement_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8112
    # Users and their roles (`ntpd-ivr user add`); empty: nobody can log in.
    users_file: str = ""
    # Keys the CSRF tokens (sessions themselves are server-side rows, docs/security.md).
    # Empty: a random one per start (the open pages' forms must be reloaded after it).
    session_secret: str = ""
    session_hours: float = 12.0  # a shift; logout, removal or a new password end it sooner
    # Reverse proxies whose X-Forwarded-For / Forwarded / X-Forwarded-Proto are believed,
    # comma-separated addresses (e.g. "127.0.0.1"). Empty: the socket's peer is the client.
    trusted_proxies: str = ""
    # Login slow-down: failures allowed in the window per (user, address) and per address.
    login_failures_per_user_address: int = 5
    login_failures_per_address: int = 20
    login_window_seconds: float = 300.0
    # A refused login is answered after this long (a timer, no CPU): a flood slows itself.
    login_refusal_delay_seconds: float = 1.0
    # Password checks run in this many threads, off the event loop that serves FastAGI;
    # past the threads plus the queue, a login is refused at once (503) without hashing.
    login_hash_threads: int = 1
    login_hash_queue: int = 16
    # The maps' base layer (desk, agency screen): a tile URL with {z}, {x}, {y} (and optional
    # {s}), the center's own tile server or one it is licensed to use, e.g.
    # "https://tiles.example.go.id/{z}/{x}/{y}.png" or "/tiles/{z}/{x}/{y}.png". Empty: no
    # tiles, the plain offline map (fixes, scale, the region's boundary). Its origin is
    # added to the pages' CSP img-src.
    map_tile_url: str = ""
    map_tile_attribution: str = ""  # the tiles' licence line, shown on the map


@dataclass(frozen=True)
class RecordsSettings:
    # Append-only, fsync'd write-ahead spool: every call-record change lands here first,
    # so a database outage or a crash never loses a record.
    spool_dir: str = ".run/spool"
    batch_max: int = 500
    retry_seconds: float = 2.0
    # Asterisk's own CDR (cdr_custom Master.csv, column order in asterisk-conf/
    # cdr_custom.conf): calls the controller missed are filled in from it at start-up and
    # after every AMI login. Empty: no reconciliation.
    cdr_csv: str = ""


@dataclass(frozen=True)
class IvrSettings:
    # Prompt directory as Asterisk sees it (inside its root when it runs chrooted).
    prompts_dir: str = "/usr/share/ntpd-ivr/prompts"
    # The menu's language and key timeout live in the routing config ([ivr]), with the
    # rest of the IVR's time budget.
    default_queue: str = "takers-default"
    # Regions, agencies, menu, legacy numbers, time budgets (config/routing.example.toml).
    # Empty: one region on default_queue with the built-in menu.
    routing_config: str = ""


@dataclass(frozen=True)
class TakersSettings:
    # Call-takers' SIP accounts (`ntpd-ivr taker add`): digest hashes, mode 0600.
    accounts_file: str = ""


@dataclass(frozen=True)
class EdgeSettings:
    """The Kamailio edge of the two-node stack (docs/ha.md), for `ntpd-ivr taker`: the
    call-takers' phones register there. Empty address: one node (`make run`)."""

    # Where the phones register ("ip:port"): each call-taker's AOR has one static contact
    # through it (pjsip-takers.conf).
    address: str = ""
    # The edge's db_text folder: `ntpd-ivr taker` rewrites its `takers` table (digest
    # hashes, mode 0600), which the edge reads again at the next REGISTER. Empty: the edge
    # runs elsewhere and its table is not written here.
    credentials_dir: str = ""
    # The edge's control socket (kamcmd): a removed or re-keyed call-taker's registration
    # is dropped there at once. Empty: it lasts until it expires.
    ctl_socket: str = ""
    # The other node's settings file: its Asterisk gets the same accounts (includes
    # written into its asterisk.conf_dir, reloaded over its AMI). Empty: this node only.
    peer_settings: str = ""
    # Where TLS phones register ("ip:port", SIP over TLS): a TLS call-taker's AOR contact
    # goes there over TLS, so the SDES keys of its SRTP never cross in clear. Empty: the
    # edge takes no TLS, and a TLS call-taker behind it is refused.
    tls_address: str = ""


@dataclass(frozen=True)
class AsteriskSettings:
    # Asterisk's configuration directory as this host sees it. What is generated goes
    # there before a reload: pjsip-takers.conf and queues-takers.conf (`ntpd-ivr taker`),
    # ntpd-agencies.conf and pjsip-operators.conf (`ntpd-ivr config reload`).
    conf_dir: str = "/etc/asterisk"


@dataclass(frozen=True)
class ServiceSettings:
    # The controller writes its process id here; `ntpd-ivr config reload` sends it SIGHUP
    # to load the routing config again. Empty: no pid file.
    pid_file: str = ""


@dataclass(frozen=True)
class WarningsSettings:
    # Public warning campaigns (ntpd_ivr/campaigns, docs/warnings.md). Outbound trunks a
    # campaign may use: PJSIP endpoints, comma-separated (asterisk-conf/pjsip-warning.conf).
    trunks: str = "warning-trunk"
    caller_id: str = ""  # the center's number, shown to the contacts; a campaign may set it
    # Where the controller writes campaign messages (WAV), and the same folder as Asterisk
    # sees it (inside its root when it runs chrooted).
    media_dir: str = "/usr/share/ntpd-ivr/prompts/warnings"
    asterisk_media_dir: str = "/usr/share/ntpd-ivr/prompts/warnings"
    # Pacing, per trunk, and what pauses it: incoming 112 calls first.
    max_channels: int = 10
    calls_per_second: float = 2.0
    max_queue_wait_seconds: float = 10.0
    min_free_takers: int = 1
    ramp_seconds: float = 60.0   # after a start or a pause, full speed only after this
    hold_queue_wait_seconds: float = 5.0  # no new calls while a 112 caller waits longer
    ring_seconds: float = 30.0   # an unanswered call is given up after this
    max_plays: int = 3           # the message at most this often (key 2, or silence)
    key_timeout_seconds: float = 4.0
    tick_seconds: float = 0.2
    # A campaign may carry its message in a regional language too, beside Bahasa Indonesia:
    # its code (ISO 639, 2-3 letters, e.g. "jv" Javanese, "su" Sundanese, "plm" Palembang
    # Malay), the name the screens show, and the espeak-ng voice that speaks its text
    # ("id" by default: espeak-ng has no voice for most regional languages; a recording is
    # better). A contact whose language is this code hears that message. Empty: none.
    regional_language: str = ""
    regional_language_name: str = ""
    regional_voice: str = "id"


@dataclass(frozen=True)
class WallSettings:
    # The supervisor's wall (docs/supervisor.md): queue members read again from Asterisk
    # this often (pauses and logins that happened outside the controller), today's
    # figures computed again this often, and a call-taker shown in wrap-up this long after
    # a call (app_queue's wrapuptime; 0: only a pause with reason wrap-up shows it).
    member_refresh_seconds: float = 5.0
    figures_refresh_seconds: float = 30.0
    wrapup_seconds: float = 0.0
    # The wall says its data is stale when nothing was heard from Asterisk for this long.
    stale_after_seconds: float = 15.0


@dataclass(frozen=True)
class CallbackSettings:
    # Abandoned-call callbacks (docs/supervisor.md). The PJSIP endpoint the center calls
    # callers back on (an outbound-only endpoint, never one in [from-operator]); empty:
    # callbacks are listed but cannot be placed.
    trunk: str = ""
    # Send `Priority: psap-callback` (RFC 7090) on the callback INVITE: only where the
    # trunk carries it.
    priority_header: bool = True
    # The caller ID the called-back caller sees (the center's number).
    caller_id: str = "112"
    dedupe_minutes: float = 10.0
    max_attempts: int = 3
    retry_minutes: float = 5.0
    taker_ring_seconds: int = 20
    caller_ring_seconds: int = 30
    sweep_seconds: float = 30.0


@dataclass(frozen=True)
class RecordingsSettings:
    # Where Asterisk's MixMonitor writes <uniqueid>.wav, as this host sees it: outside any
    # web root (the dialplan global NTPD_RECORDINGS is the same folder as Asterisk sees
    # it). Empty: playback and retention are off.
    dir: str = ""
    retention_days: float = 90.0
    purge_interval_seconds: float = 3600.0


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"


@dataclass(frozen=True)
class FeedSettings:
    # The ministry's central monitoring ("Pusat Monitoring"): where the period's figures
    # are pushed (ntpd_ivr/feed, docs/api.md). Empty url: no feed.
    url: str = ""
    interval_seconds: float = 300.0
    # PEM CA bundle that signs the endpoint's certificate; empty: the system's CAs.
    ca_file: str = ""
    # A file holding the bearer token the endpoint expects (kept out of this file).
    bearer_token_file: str = ""
    timeout_seconds: float = 10.0
    retry_seconds: float = 30.0
    center_id: str = ""  # e.g. the kabupaten/kota code the ministry assigned


@dataclass(frozen=True)
class AlertsSettings:
    # CAP 1.2 feeds to poll (ntpd_ivr/alerts, docs/alerts.md), comma-separated http(s)
    # URLs: a CAP alert, or an Atom/RSS feed listing alerts (BMKG's nowcast RSS is
    # https://www.bmkg.go.id/alerts/nowcast/id). Empty: nothing is polled.
    feeds: str = ""
    # Polite: BMKG allows 60 requests a minute per address; one poll reads each feed and at
    # most max_alerts_per_poll linked alerts (conditional GET: an unchanged one costs a 304).
    poll_seconds: float = 60.0
    timeout_seconds: float = 10.0      # every read: connect, headers and body together
    max_bytes: int = 1_000_000         # a larger document is refused, not read on
    max_alerts_per_poll: int = 20
    # Surge mode is one row in PostgreSQL shared by the center's controllers (two nodes):
    # each reads it this often (a bounded read; the database away: the last state holds).
    surge_sync_seconds: float = 2.0
    # CAP out: the `sender` of the center's own alerts (campaigns exported as CAP 1.2).
    sender: str = "ntpd112@example.go.id"
    # Sign them (enveloped XML Signature) with this PEM private key and its PEM certificate;
    # both or neither. Empty: not signed.
    signing_key_file: str = ""
    signing_cert_file: str = ""
    # CAP in, signed: a feed (one of `feeds`) whose alerts must carry an enveloped XML
    # Signature made with this certificate's key (PEM): comma-separated "<feed URL> <file>"
    # pairs (a URL has no spaces). The feed's alerts, linked ones too, are refused unsigned
    # or with a signature that does not verify. A feed not named: signatures not checked.
    feed_certificates: str = ""


def alert_feeds(alerts: AlertsSettings) -> tuple[str, ...]:
    return tuple(u.strip() for u in alerts.feeds.split(",") if u.strip())


def feed_certificates(alerts: AlertsSettings) -> dict[str, str]:
    """`feed_certificates` as feed URL -> certificate file (ValueError: a bad pair)."""
    found: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in alerts.feed_certificates.split(","))):
        url, _, path = item.partition(" ")
        if not path.strip():
            raise ValueError(f"{item!r}: give '<feed URL> <certificate file>'")
        found[url] = path.strip()
    return found


def validate_alerts(alerts: AlertsSettings, where: str) -> None:
    for url in alert_feeds(alerts):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: alerts.feeds: {url!r} is not an http(s) URL")
    if alerts.poll_seconds < 1.0:
        raise ConfigError(f"{where}: alerts.poll_seconds must be at least 1")
    for key in ("timeout_seconds", "max_bytes", "max_alerts_per_poll", "surge_sync_seconds"):
        if getattr(alerts, key) <= 0:
            raise ConfigError(f"{where}: alerts.{key} must be positive")
    if not alerts.sender or any(c in alerts.sender for c in " ,<&"):
        raise ConfigError(f"{where}: alerts.sender: CAP forbids spaces, commas, < and &")
    if bool(alerts.signing_key_file) != bool(alerts.signing_cert_file):
        raise ConfigError(f"{where}: alerts.signing_key_file and alerts.signing_cert_file "
                          "go together")
    for key in ("signing_key_file", "signing_cert_file"):
        path = getattr(alerts, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"{where}: alerts.{key}: {path} is not a file")
    try:
        certificates = feed_certificates(alerts)
    except ValueError as exc:
        raise ConfigError(f"{where}: alerts.feed_certificates: {exc}") from None
    for url, path in certificates.items():
        if url not in alert_feeds(alerts):
            raise ConfigError(f"{where}: alerts.feed_certificates: {url} is not one of "
                              "alerts.feeds")
        if not Path(path).is_file() or b"-----BEGIN CERTIFICATE-----" not in Path(
                path).read_bytes():
            raise ConfigError(f"{where}: alerts.feed_certificates: {path} is not a PEM "
                              "certificate file")


# The [sms] section: Kannel's ports and passwords, the SMSC it talks to, our receiver for
# its get-url, and the outbox's retry bound (docs/sms.md).
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


# The [location] section: matching the caller's phone's own fixes to calls, and the ELS
# HTTPS listener that faces the operators (docs/sms.md, docs/security.md).
@dataclass(frozen=True)
class LocationSettings:
    # A fix belongs to a call of the same caller number (or IMEI) that arrived at most
    # this long before it or after it (the SMS can come before the call is answered).
    match_window_seconds: float = 600.0
    # The ELS HTTPS POST receiver: its own listener, off unless enabled.
    els_enabled: bool = False
    els_host: str = "127.0.0.1"
    els_port: int = 13090
    # Credentials per operator, "operator:secret,operator:secret" (HTTP Basic); each
    # secret at least 16 characters.
    els_credentials: str = ""
    # Requests per minute per client address, and the largest body taken.
    els_rate_per_minute: int = 120
    els_max_body_bytes: int = 16_384
    # The location link by SMS: a desk button sends the caller a link to a public page on
    # its own listener (no login, one page); `link_base_url` is that page as the caller's
    # phone reaches it (the public name in front of link_host:link_port, e.g.
    # https://lokasi.112.example). Needs [sms] enabled. A link lives link_minutes.
    link_enabled: bool = False
    link_host: str = "127.0.0.1"
    link_port: int = 13091
    link_base_url: str = ""
    link_minutes: float = 30.0
    link_rate_per_minute: int = 60


def els_credentials(location: LocationSettings) -> dict[str, str]:
    """The operators' credentials of `els_credentials`, operator -> secret."""
    found: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in location.els_credentials.split(","))):
        operator, _, secret = item.partition(":")
        found[operator.strip()] = secret.strip()
    return found


def _validate_listener(location: LocationSettings, name: str, where: str) -> None:
    port, host = getattr(location, f"{name}_port"), getattr(location, f"{name}_host")
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: location.{name}_port must be 1-65535, got {port}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"{where}: location.{name}_host must be an IP address, "
                          f"got {host!r}") from None


def _validate_link(location: LocationSettings, where: str) -> None:
    _validate_listener(location, "link", where)
    if not location.link_base_url.startswith(("https://", "http://")):
        raise ConfigError(f"{where}: location.link_base_url must be the page's public "
                          "http(s):// address")
    if location.link_minutes <= 0 or location.link_rate_per_minute <= 0:
        raise ConfigError(f"{where}: location.link_minutes and link_rate_per_minute "
                          "must be positive")


def validate_location(location: LocationSettings, where: str) -> None:
    if location.match_window_seconds <= 0:
        raise ConfigError(f"{where}: location.match_window_seconds must be positive")
    if location.link_enabled:
        _validate_link(location, where)
    if not location.els_enabled:
        return
    _validate_listener(location, "els", where)
    credentials = els_credentials(location)
    if not credentials:
        raise ConfigError(f"{where}: location.els_credentials: at least one "
                          "operator:secret when location.els_enabled")
    for operator, secret in credentials.items():
        if not operator or len(secret) < 16:
            raise ConfigError(f"{where}: location.els_credentials: {operator or '?'}: "
                              "an operator name and a secret of at least 16 characters")
    for key in ("els_rate_per_minute", "els_max_body_bytes"):
        if getattr(location, key) <= 0:
            raise ConfigError(f"{where}: location.{key} must be positive")


# The [transfer] section: the listener that takes the EIDO a neighbouring 112 center sends
# before it transfers a caller to us (docs/eido.md, "Receiving a transfer"). Neighbours
# prove themselves with their token_file's token (routing config); off unless enabled.
@dataclass(frozen=True)
class TransferSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 13092
    rate_per_minute: int = 60  # requests per minute per client address
    # Sending a caller (docs/eido.md, "Sending a transfer"), whether or not the listener
    # runs: how long the other center's trunk rings, and how long after it answers its
    # call-taker has to press 1 before the caller stays with ours.
    ring_seconds: int = 30
    accept_seconds: int = 60


def validate_transfer(transfer: TransferSettings, where: str) -> None:
    if not 5 <= transfer.ring_seconds <= 120:
        raise ConfigError(f"{where}: transfer.ring_seconds must be 5-120, got "
                          f"{transfer.ring_seconds}")
    if not 10 <= transfer.accept_seconds <= 300:
        raise ConfigError(f"{where}: transfer.accept_seconds must be 10-300, got "
                          f"{transfer.accept_seconds}")
    if not transfer.enabled:
        return
    if not 0 < transfer.port < 65536:
        raise ConfigError(f"{where}: transfer.port must be 1-65535, got {transfer.port}")
    try:
        ipaddress.ip_address(transfer.host)
    except ValueError:
        raise ConfigError(f"{where}: transfer.host must be an IP address, "
                          f"got {transfer.host!r}") from None
    if transfer.rate_per_minute <= 0:
        raise ConfigError(f"{where}: transfer.rate_per_minute must be positive")


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


@dataclass(frozen=True)
class Settings:
    agi: AgiSettings = field(default_factory=AgiSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    ami_peer: AmiPeerSettings = field(default_factory=AmiPeerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    web: WebSettings = field(default_factory=WebSettings)
    records: RecordsSettings = field(default_factory=RecordsSettings)
    ivr: IvrSettings = field(default_factory=IvrSettings)
    takers: TakersSettings = field(default_factory=TakersSettings)
    edge: EdgeSettings = field(default_factory=EdgeSettings)
    asterisk: AsteriskSettings = field(default_factory=AsteriskSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    wall: WallSettings = field(default_factory=WallSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    recordings: RecordingsSettings = field(default_factory=RecordingsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    feed: FeedSettings = field(default_factory=FeedSettings)
    warnings: WarningsSettings = field(default_factory=WarningsSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)  # docs/sms.md
    location: LocationSettings = field(default_factory=LocationSettings)  # docs/sms.md
    alerts: AlertsSettings = field(default_factory=AlertsSettings)  # docs/alerts.md
    transfer: TransferSettings = field(default_factory=TransferSettings)  # docs/eido.md
    source: str = "defaults"


_SECTIONS: dict[str, type[Any]] = {
    f.name: f.type if isinstance(f.type, type) else globals()[f.type]
    for f in dataclasses.fields(Settings)
    if f.name != "source"
}


def _coerce(value: Any, target: type[Any], where: str) -> Any:
    """Turn a TOML or environment value into the field's type, or say where it is wrong."""
    if target is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false",
                                                         "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if target is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if target is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if target is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise AssertionError(f"unsupported settings type {target}")  # pragma: no cover


def _field_types(section_cls: type[Any]) -> dict[str, type[Any]]:
    names = {"str": str, "int": int, "float": float, "bool": bool}
    return {f.name: names[f.type] if isinstance(f.type, str) else f.type
            for f in dataclasses.fields(section_cls)}


def _apply(values: dict[str, dict[str, Any]], raw: Mapping[str, Any], origin: str) -> None:
    for section, body in raw.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{origin}: unknown section [{section}] "
                              f"(known: {', '.join(sorted(_SECTIONS))})")
        if not isinstance(body, Mapping):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        types = _field_types(_SECTIONS[section])
        for key, value in body.items():
            if key not in types:
                raise ConfigError(f"{origin}: unknown key {section}.{key} "
                                  f"(known: {', '.join(sorted(types))})")
            values[section][key] = _coerce(value, types[key], f"{origin}: {section}.{key}")


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[str, dict[str, dict[str, str]]]]:
    found = []
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        rest = name[len(ENV_PREFIX):].lower()
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                found.append((f"environment {name}", {section: {rest[len(section) + 1:]: value}}))
                break
        else:
            raise ConfigError(f"environment {name}: no such setting "
                              f"(sections: {', '.join(sorted(_SECTIONS))})")
    return found


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build validated settings. ``path`` falls back to ``$NTPD_IVR_CONFIG``."""
    environ = os.environ if environ is None else environ
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    source = "defaults"
    config_path = path or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        file = Path(config_path)
        try:
            raw = read_toml(file)
        except FileNotFoundError:
            raise ConfigError(f"{file}: settings file not found") from None
        _apply(values, raw, str(file))
        source = str(file)
    for origin, raw_env in _env_overrides(environ):
        _apply(values, raw_env, origin)
    if overrides:
        _apply(values, overrides, "command line")
    sections = {name: cls(**values[name]) for name, cls in _SECTIONS.items()}
    settings = Settings(**sections, source=source)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    where = settings.source
    for name in ("agi", "ami", "web"):
        section = getattr(settings, name)
        if not 0 < section.port < 65536:
            raise ConfigError(f"{where}: {name}.port must be 1-65535, got {section.port}")
        try:
            ipaddress.ip_address(section.host)
        except ValueError:
            if section.host != "localhost":
                raise ConfigError(f"{where}: {name}.host must be an IP address, "
                                  f"got {section.host!r}") from None
    if not settings.ami.secret:
        raise ConfigError(f"{where}: ami.secret is empty; `make run` generates one in "
                          ".run/ntpd-ivr.toml, or set NTPD_IVR_AMI_SECRET")
    _validate_ami_peer(settings.ami_peer, where)
    _validate_edge(settings.edge, where)
    _validate_web(settings.web, where)
    if not settings.database.url:
        raise ConfigError(f"{where}: database.url is empty; set it or NTPD_IVR_DATABASE_URL")
    if not settings.database.url.startswith("postgresql+asyncpg://"):
        raise ConfigError(f"{where}: database.url must start with postgresql+asyncpg://")
    if settings.agi.loop_stall_exit_seconds < 0:
        raise ConfigError(f"{where}: agi.loop_stall_exit_seconds must be 0 (off) or positive")
    for key in ("call_budget_seconds", "header_timeout_seconds", "reply_timeout_seconds",
                "confirm_seconds"):
        if getattr(settings.agi, key) <= 0:
            raise ConfigError(f"{where}: agi.{key} must be positive")
    parse_allow_list(settings.agi.allow, f"{where}: agi.allow")
    check_secret(settings.agi.secret, f"{where}: agi.secret")
    _validate_warnings(settings)
    _validate_supervision(settings)
    if settings.log.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"{where}: log.level must be DEBUG, INFO, WARNING or ERROR")
    validate_feed(settings.feed, where)
    validate_sms(settings.sms, where)
    validate_location(settings.location, where)
    validate_alerts(settings.alerts, where)
    validate_transfer(settings.transfer, where)


def _validate_web(web: WebSettings, where: str) -> None:
    for address in filter(None, (a.strip() for a in web.trusted_proxies.split(","))):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(f"{where}: web.trusted_proxies: {address!r} is not an IP "
                              "address") from None
    counts = {"session_hours": web.session_hours, "login_window_seconds":
              web.login_window_seconds, "login_hash_threads": web.login_hash_threads,
              "login_failures_per_user_address": web.login_failures_per_user_address,
              "login_failures_per_address": web.login_failures_per_address}
    for key, value in counts.items():
        if value <= 0:
            raise ConfigError(f"{where}: web.{key} must be positive, got {value}")
    _validate_tile_url(web.map_tile_url, f"{where}: web.map_tile_url")
    if web.login_hash_queue < 0 or web.login_refusal_delay_seconds < 0:
        raise ConfigError(f"{where}: web.login_hash_queue and "
                          "web.login_refusal_delay_seconds must be 0 or more")


def _validate_tile_url(url: str, where: str) -> None:
    if not url:
        return
    if not all(f"{{{part}}}" in url for part in "zxy"):
        raise ConfigError(f"{where}: needs {{z}}, {{x}} and {{y}}, got {url!r}")
    if not (url.startswith(("https://", "http://")) or url.startswith("/")) \
            or any(c in url for c in " '\";"):
        raise ConfigError(f"{where}: an http(s):// URL or a path on this server, "
                          f"got {url!r}")


def _validate_ami_peer(peer: AmiPeerSettings, where: str) -> None:
    if not peer.host:
        return
    try:
        ipaddress.ip_address(peer.host)
    except ValueError:
        raise ConfigError(f"{where}: ami_peer.host must be an IP address, "
                          f"got {peer.host!r}") from None
    if not 0 < peer.port < 65536:
        raise ConfigError(f"{where}: ami_peer.port must be 1-65535, got {peer.port}")
    if not peer.secret:
        raise ConfigError(f"{where}: ami_peer.secret is empty (the other node's AMI secret)")
    if not peer.name or not peer.local_name or peer.name == peer.local_name:
        raise ConfigError(f"{where}: ami_peer.name and ami_peer.local_name must be two "
                          f"different node names, got {peer.name!r} and {peer.local_name!r}")


def _validate_edge(edge: EdgeSettings, where: str) -> None:
    if not edge.address:
        if edge.credentials_dir or edge.ctl_socket or edge.peer_settings:
            raise ConfigError(f"{where}: edge.address is empty but other edge.* keys are "
                              "set: where do the call-takers' phones register?")
        return
    for key in ("address", "tls_address"):
        value = getattr(edge, key)
        if key == "tls_address" and not value:
            continue
        host, _, port = value.rpartition(":")
        try:
            ipaddress.ip_address(host)
            valid = 0 < int(port) < 65536
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"{where}: edge.{key} must be ip:port, got {value!r}")


def validate_feed(feed: FeedSettings, where: str) -> None:
    if not feed.url:
        return
    if not feed.url.startswith("https://"):
        raise ConfigError(f"{where}: feed.url must be an https:// URL, got {feed.url!r}")
    for key in ("interval_seconds", "timeout_seconds", "retry_seconds"):
        if getattr(feed, key) <= 0:
            raise ConfigError(f"{where}: feed.{key} must be positive")
    for key in ("ca_file", "bearer_token_file"):
        path = getattr(feed, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"{where}: feed.{key}: {path} is not a file")


def _validate_warnings(settings: Settings) -> None:
    where, section = settings.source, settings.warnings
    for key in ("max_channels", "max_plays"):
        if getattr(section, key) < 1:
            raise ConfigError(f"{where}: warnings.{key} must be at least 1")
    for key in ("calls_per_second", "ring_seconds", "key_timeout_seconds", "tick_seconds"):
        if getattr(section, key) <= 0:
            raise ConfigError(f"{where}: warnings.{key} must be positive")
    for key in ("min_free_takers", "max_queue_wait_seconds", "ramp_seconds",
                "hold_queue_wait_seconds"):
        if getattr(section, key) < 0:
            raise ConfigError(f"{where}: warnings.{key} must not be negative")
    regional = section.regional_language
    if regional and (not re.fullmatch(r"[a-z]{2,3}", regional) or regional in ("id", "en")):
        raise ConfigError(f"{where}: warnings.regional_language: {regional!r} is not a "
                          "regional language code (2-3 lower-case letters, not id or en)")
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{1,8})?", section.regional_voice):
        raise ConfigError(f"{where}: warnings.regional_voice: {section.regional_voice!r} is "
                          "not an espeak-ng voice name")
    if section.hold_queue_wait_seconds > section.max_queue_wait_seconds:
        raise ConfigError(f"{where}: warnings.hold_queue_wait_seconds "
                          f"({section.hold_queue_wait_seconds:g}) must not be above "
                          f"warnings.max_queue_wait_seconds "
                          f"({section.max_queue_wait_seconds:g}): the hold comes first")


def _validate_supervision(settings: Settings) -> None:
    """The wall's, the callbacks' and the recordings' settings."""
    where = settings.source
    for section, key in (("wall", "member_refresh_seconds"), ("wall", "figures_refresh_seconds"),
                         ("wall", "stale_after_seconds"), ("callbacks", "dedupe_minutes"),
                         ("callbacks", "retry_minutes"), ("callbacks", "taker_ring_seconds"),
                         ("callbacks", "caller_ring_seconds"), ("callbacks", "sweep_seconds"),
                         ("callbacks", "max_attempts"), ("recordings", "retention_days"),
                         ("recordings", "purge_interval_seconds")):
        if getattr(getattr(settings, section), key) <= 0:
            raise ConfigError(f"{where}: {section}.{key} must be positive")
    if settings.wall.wrapup_seconds < 0:
        raise ConfigError(f"{where}: wall.wrapup_seconds must be 0 or positive")
    caller_id = settings.callbacks.caller_id
    if not caller_id.lstrip("+").isdigit():
        raise ConfigError(f"{where}: callbacks.caller_id must be a number, got {caller_id!r}")
    trunk = settings.callbacks.trunk
    if trunk and not trunk.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"{where}: callbacks.trunk must be a PJSIP endpoint name "
                          f"(letters, digits, - _ .), got {trunk!r}")
