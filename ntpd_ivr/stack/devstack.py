"""The whole local service, for `make run` and the end-to-end tests: Asterisk 22,
PostgreSQL, rendered prompts and the controller's settings, wired on loopback.

Secrets are generated on first use into `<run_dir>/secrets.json` (mode 0600) and never
committed. Everything here is idempotent: `up()` twice is the same as once.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ntpd_ivr.ami.accounts import CONTROLLER, RELOAD
from ntpd_ivr.db.migrate import upgrade
from ntpd_ivr.ivr.prompts import render_prompts
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.routing.render import rendered_files, write_generated
from ntpd_ivr.settings import SmsSettings
from ntpd_ivr.stack.asterisk import AsteriskInstance, find_or_build_asterisk
from ntpd_ivr.stack.kannel import FakeSmsc, Kannel, KannelConfig
from ntpd_ivr.stack.patroni import PatroniCluster
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.stack.postgres import LocalPostgres
from ntpd_ivr.stack.tls import ensure_local_ca
from ntpd_ivr.takers.accounts import AccountStore
from ntpd_ivr.takers.render import write_includes
from ntpd_ivr.web.auth import UserStore

# Operator trunks are identified by these source addresses (operators.*.match of the
# routing config): operator-local takes the caller number from P-Asserted-Identity,
# operator-b from the From header only.
OPERATOR_IP = "127.0.0.2"
OPERATOR_B_IP = "127.0.0.8"
TAKER_IP = "127.0.0.3"      # call-taker stand-ins listen here
AGENCY_IP = "127.0.0.4"     # agency trunk stand-ins (direct dispatch) listen here
WARNING_IP = "127.0.0.12"   # the warning trunk's stand-in for the contacts' phones
CALLBACK_IP = "127.0.0.5"   # the caller being called back (callback line stand-in)
# A test-only operator trunk with short dead-dialog timers (pjsip-standins.conf).
SHORT_TIMERS_OPERATOR_IP = "127.0.0.13"
# Dead dialogs on the operator trunks (pjsip.conf [operator-trunk]): no RTP from the caller
# for this long ends the call (on hold: the second), and SIP session timers (RFC 4028) are
# refreshed every half of the third; a refresh nobody answers ends the call too.
OPERATOR_RTP_TIMEOUT_S = 120
OPERATOR_RTP_TIMEOUT_HOLD_S = 600
OPERATOR_SESSION_EXPIRES_S = 600
# Every static contact (stand-ins, agency, warning and callback trunks) is qualified this
# often, and counts as unreachable when its OPTIONS gets no answer within the timeout.
STATIC_QUALIFY_FREQUENCY_S = 1
STATIC_QUALIFY_TIMEOUT_S = 1.0
# The routing config a dev/test stack starts from (South Sumatra), copied into its run folder.
ROUTING_CONFIG = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
AGENCY_TRUNKS = ("agency_damkar_plg", "agency_damkar_plg_backup", "agency_bpbd_plg",
                 "agency_bpbd_plg_backup")
LOOPBACK = "127.0.0.1"
_MIGRATING = threading.Lock()  # see DevStack.up


def _progress(message: str) -> None:
    print(f"[ntpd-ivr] {message}", flush=True)


@dataclass(frozen=True)
class StackLayout:
    name: str
    run_dir: Path
    sip_port: int
    ami_port: int
    agi_port: int
    web_port: int
    pg_port: int
    taker_ports: tuple[int, int]
    # Bench stacks only (pjsip-bench.conf): taker-3 and taker-4, in no queue until a bench
    # adds them (bench-surge --takers 4).
    bench_taker_ports: tuple[int, int] = (5073, 5074)
    # Contacts of AGENCY_TRUNKS, in that order, at AGENCY_IP.
    agency_ports: tuple[int, int, int, int] = (5081, 5082, 5083, 5084)
    sip_tls_port: int = 5061  # call-takers' phones over TLS
    warning_port: int = 5091  # the warning trunk's contact at WARNING_IP
    callback_port: int = 5091  # the callback line's stand-in, at CALLBACK_IP
    # Kannel (docs/sms.md): admin, smsbox, sendsms, the fake SMSC, and our receiver.
    sms_ports: tuple[int, int, int, int, int] = (13000, 13001, 13013, 13010, 13080)
    # The location listeners (docs/sms.md): the ELS receiver, the location-link page.
    location_ports: tuple[int, int] = (13090, 13091)
    # The listener that takes neighbouring 112 centers' EIDO before a transfer (docs/eido.md).
    transfer_port: int = 13092

    @classmethod
    def dev(cls, run_dir: Path) -> StackLayout:
        """Fixed, documented ports for `make run`."""
        return cls("dev", run_dir, sip_port=5060, ami_port=5038, agi_port=4573, web_port=8112,
                   pg_port=5433, taker_ports=(5071, 5072))

    @classmethod
    def ephemeral(cls, run_dir: Path, name: str) -> StackLayout:
        """Free ports, for a test session beside a running dev service."""
        return cls(name, run_dir, sip_port=free_port("udp"), ami_port=free_port(),
                   agi_port=free_port(), web_port=free_port(), pg_port=free_port(),
                   taker_ports=(free_port("udp"), free_port("udp")),
                   bench_taker_ports=(free_port("udp"), free_port("udp")),
                   agency_ports=(free_port("udp"), free_port("udp"), free_port("udp"),
                                 free_port("udp")),
                   sip_tls_port=free_port(), warning_port=free_port("udp"),
                   callback_port=free_port("udp"),
                   sms_ports=(free_port(), free_port(), free_port(), free_port(),
                              free_port()),
                   location_ports=(free_port(), free_port()), transfer_port=free_port())

    def agency_port(self, trunk: str) -> int:
        """The stand-in port of an agency trunk endpoint, e.g. "agency-damkar-plg"."""
        return self.agency_ports[AGENCY_TRUNKS.index(trunk.replace("-", "_"))]

    @property
    def settings_file(self) -> Path:
        return self.run_dir / "ntpd-ivr.toml"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack.json"


SECRET_KEYS = ("ami_secret", "db_password", "taker_password", "web_session_secret",
               "web_supervisor_password", "ami_reload_secret", "ami_peer_secret",
               "agi_secret", "db_runtime_password", "sms_admin_password",
               "sms_sendsms_password", "sms_shared_secret", "els_secret")
# A forged FastAGI session's call is closed as unconfirmed after this long (AMI time);
# the default (agi.confirm_seconds) is longer.
CONFIRM_SECONDS = 5.0


def _load_or_create_secrets(path: Path, keys: tuple[str, ...] = SECRET_KEYS
                            ) -> dict[str, str]:
    values: dict[str, str] = dict(json.loads(path.read_text())) if path.exists() else {}
    missing = [key for key in keys if key not in values]
    if missing:
        values.update({key: secrets.token_urlsafe(24) for key in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out, indent=2)
        path.with_suffix(".tmp").replace(path)
    return values


def _postgres_dir(layout: StackLayout) -> Path:
    # As root, PostgreSQL runs as the `postgres` user, which must reach its data folder;
    # a checkout under a private home would not do, so root keeps it under /var/lib.
    if os.geteuid() == 0:
        digest = hashlib.sha1(str(layout.run_dir.resolve()).encode()).hexdigest()[:8]
        return Path("/var/lib/ntpd-ivr") / f"{layout.name}-{digest}" / "postgres"
    return layout.run_dir / "postgres"


class DevStack:
    def __init__(self, layout: StackLayout, *, bench: bool = False,
                 bind: str = LOOPBACK) -> None:
        self.layout = layout
        # `ntpd-ivr bench` stacks also load the benchmark trunks and IVR paths
        # (asterisk-conf/pjsip-bench.conf, dialplan/ntpd-bench.conf).
        self.bench = bench
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        self.secrets = _load_or_create_secrets(layout.run_dir / "secrets.json")
        # Two roles: the owner migrates, the controller connects as the runtime role.
        # The two-node stack's nodes share a Patroni pair instead (stack/patroni.py).
        self.postgres: LocalPostgres | PatroniCluster = LocalPostgres(
            _postgres_dir(layout), port=layout.pg_port,
            password=self.secrets["db_password"],
            runtime_password=self.secrets["db_runtime_password"])
        self.asterisk: AsteriskInstance | None = None
        # Kannel with its fake SMSC (docs/sms.md); benchmarks measure calls, not SMS.
        self.runs_kannel = not bench
        self.kannel: Kannel | None = None
        self.fake_smsc: FakeSmsc | None = None
        # Where this stack's Asterisk (SIP, AMI), controller (FastAGI) and its listeners
        # for other systems (transfer, ELS, location link) listen, and the address its SIP
        # requests come from: the nodes of the two-node stack (stack/hastack.py) and the
        # two 112 centers of the transfer tests (tests/two_centers.py) each have an address
        # of their own. It is also the center's EIDO domain (the link page's host). The
        # web app, PostgreSQL and Kannel stay on 127.0.0.1, on this layout's ports.
        self.bind = bind

    @property
    def asterisk_keys(self) -> str:
        """Where Asterisk reads its TLS certificate and key (inside its root)."""
        return f"{self.asterisk.base}/lib/keys" if self.asterisk else ""

    @property
    def tls_dir(self) -> Path:
        """The local CA (ca.crt: what phones trust) and the SIP server certificate."""
        return self.layout.run_dir / "tls"

    def _install_certificate(self) -> None:
        assert self.asterisk is not None
        files = ensure_local_ca(self.tls_dir, self.bind)  # the address phones reach
        keys = self.asterisk.host_path(self.asterisk_keys)
        keys.mkdir(parents=True, exist_ok=True)
        for source in (files.server_cert, files.server_key):
            shutil.copyfile(source, keys / source.name)
        (keys / files.server_key.name).chmod(0o600)

    def _asterisk_values(self, prompts_dir: str) -> dict[str, str]:
        layout = self.layout
        return {
            "sip_bind": self.bind, "sip_port": str(layout.sip_port),
            "sip_tls_port": str(layout.sip_tls_port),
            "tls_cert_file": f"{self.asterisk_keys}/sip-server.crt",
            "tls_key_file": f"{self.asterisk_keys}/sip-server.key",
            "ami_bind": self.bind, "ami_port": str(layout.ami_port),
            "ami_user": CONTROLLER.name, "ami_secret": self.secrets["ami_secret"],
            "ami_reload_user": RELOAD.name,
            "ami_reload_secret": self.secrets["ami_reload_secret"],
            # Where the controllers' AMI sessions come from: on loopback the kernel gives
            # every connection the source 127.0.0.1, whatever node address it goes to.
            "ami_permit": LOOPBACK,
            # The dialplan global NTPD_AGI_SECRET that FastAGI sessions must carry.
            "agi_secret": self.secrets["agi_secret"],
            "agi_url": f"agi://{self.bind}:{layout.agi_port}",
            # The two-node stack's (stack/hastack.py); empty: one node, one controller.
            "agi_url_peer": "", "identifier_order": "ip,username", "ha": ";",
            # Benchmarks hold SIPp callers that send no RTP for minutes: no RTP timeout there.
            "operator_rtp_timeout": "0" if self.bench else str(OPERATOR_RTP_TIMEOUT_S),
            "operator_rtp_timeout_hold": "0" if self.bench else str(OPERATOR_RTP_TIMEOUT_HOLD_S),
            "operator_session_expires": str(OPERATOR_SESSION_EXPIRES_S),
            "static_qualify_frequency": str(STATIC_QUALIFY_FREQUENCY_S),
            "static_qualify_timeout": str(STATIC_QUALIFY_TIMEOUT_S),
            "short_timers_operator_ip": SHORT_TIMERS_OPERATOR_IP,
            "system_name": "",
            "taker_password": self.secrets["taker_password"],
            "taker1_contact": f"sip:taker-1@{TAKER_IP}:{layout.taker_ports[0]}",
            "taker2_contact": f"sip:taker-2@{TAKER_IP}:{layout.taker_ports[1]}",
            "taker3_contact": f"sip:taker-3@{TAKER_IP}:{layout.bench_taker_ports[0]}",
            "taker4_contact": f"sip:taker-4@{TAKER_IP}:{layout.bench_taker_ports[1]}",
            **{f"{trunk}_contact": f"sip:agency@{AGENCY_IP}:{port}"
               for trunk, port in zip(AGENCY_TRUNKS, layout.agency_ports, strict=True)},
            "warning_trunk_contact": f"sip:warning@{WARNING_IP}:{layout.warning_port}",
            "prompts_dir": prompts_dir,
            # Benchmarks measure the call path, not the disk: no recordings there.
            "recordings_dir": "" if self.bench else self.recordings_inside,
            "callback_contact": f"sip:caller@{CALLBACK_IP}:{layout.callback_port}",
            "bench": "" if self.bench else ";",
            # SIPp call-taker stand-ins at static contacts (pjsip-standins.conf): every
            # local stack has them; real call-takers are added with `ntpd-ivr taker add`.
            "standins": "",
        }

    @property
    def recordings_inside(self) -> str:
        """The recordings folder as Asterisk sees it (inside its root)."""
        return f"{self.asterisk.base}/recordings" if self.asterisk else ""

    def _cdr_csv(self) -> Path | str:
        """Where Asterisk's cdr_custom writes Master.csv, as the controller sees it."""
        if self.asterisk is None:
            return ""
        return self.asterisk.host_path(f"{self.asterisk.base}/log/cdr-custom/Master.csv")

    def _write_controller_settings(self, prompts_dir: str) -> None:
        layout = self.layout
        text = f"""# Generated by `ntpd-ivr run` for the local stack {layout.name!r}. Holds secrets.
[agi]
host = "{self.bind}"
port = {layout.agi_port}
allow = "{self.agi_allow}"
secret = "{self.secrets['agi_secret']}"
confirm_seconds = {CONFIRM_SECONDS}

[ami]
host = "{self.bind}"
port = {layout.ami_port}
username = "{CONTROLLER.name}"
secret = "{self.secrets['ami_secret']}"
reload_username = "{RELOAD.name}"
reload_secret = "{self.secrets['ami_reload_secret']}"

[database]
url = "{self.postgres.runtime_url or self.postgres.url}"
owner_url = "{self.postgres.url if self.postgres.runtime_url else ''}"

[web]
host = "{LOOPBACK}"
port = {layout.web_port}
users_file = "{layout.run_dir / 'users.toml'}"
session_secret = "{self.secrets['web_session_secret']}"

[records]
spool_dir = "{layout.run_dir / 'spool'}"
cdr_csv = "{self._cdr_csv()}"

[ivr]
prompts_dir = "{prompts_dir}"
routing_config = "{self.routing_file}"

[takers]
accounts_file = "{self.takers_file}"

[asterisk]
conf_dir = "{self.asterisk.host_path(self.asterisk.etc) if self.asterisk else ''}"

[service]
pid_file = "{layout.run_dir / 'controller.pid'}"

[warnings]
caller_id = "+62711112"
media_dir = "{self.asterisk.host_path(prompts_dir + '/warnings') if self.asterisk else ''}"
asterisk_media_dir = "{prompts_dir}/warnings"
[recordings]
dir = "{self.asterisk.host_path(self.recordings_inside) if self.asterisk else ''}"

[callbacks]
trunk = "callback-line"
{self._sms_settings_text()}"""
        fd = os.open(layout.settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)

    @property
    def sms_settings(self) -> SmsSettings:
        admin, smsbox, sendsms, smsc, receiver = self.layout.sms_ports
        return SmsSettings(
            enabled=self.runs_kannel, admin_port=admin, smsbox_port=smsbox,
            sendsms_port=sendsms, smsc="fake", smsc_port=smsc, receiver_port=receiver,
            admin_password=self.secrets["sms_admin_password"],
            sendsms_password=self.secrets["sms_sendsms_password"],
            shared_secret=self.secrets["sms_shared_secret"])

    def _sms_settings_text(self) -> str:
        if not self.runs_kannel:
            return ""
        sms = self.sms_settings
        return f"""
[sms]
enabled = true
admin_port = {sms.admin_port}
smsbox_port = {sms.smsbox_port}
sendsms_port = {sms.sendsms_port}
smsc = "fake"
smsc_port = {sms.smsc_port}
receiver_port = {sms.receiver_port}
admin_password = "{sms.admin_password}"
sendsms_password = "{sms.sendsms_password}"
shared_secret = "{sms.shared_secret}"

[location]
els_enabled = true
els_host = "{self.bind}"
els_port = {self.layout.location_ports[0]}
els_credentials = "dev-operator:{self.secrets['els_secret']}"
link_enabled = true
link_host = "{self.bind}"
link_port = {self.layout.location_ports[1]}
link_base_url = "http://{self.bind}:{self.layout.location_ports[1]}"

[transfer]
enabled = true
host = "{self.bind}"
port = {self.layout.transfer_port}
"""

    def _start_kannel(self) -> None:
        sms = self.sms_settings
        _progress(f"Kannel (fake SMSC) sendsms on {LOOPBACK}:{sms.sendsms_port}")
        self.kannel = Kannel(KannelConfig(self.layout.run_dir, sms,
                                          f"http://{LOOPBACK}:{sms.receiver_port}"))
        self.kannel.start()
        # Connected all along, so that MTs print in fakesmsc.log (docs/sms.md).
        self.fake_smsc = FakeSmsc(sms.smsc_port, self.layout.run_dir / "fakesmsc.log")
        self.fake_smsc.start()

    @property
    def agi_allow(self) -> str:
        """Where this controller's FastAGI sessions may come from: its Asterisk, which
        connects from 127.0.0.1 on loopback (the kernel's source for any 127.x)."""
        return LOOPBACK

    @property
    def takers_file(self) -> Path:
        return self.layout.run_dir / "takers.toml"

    @property
    def routing_file(self) -> Path:
        """This stack's routing config: a copy of the example, made once, to edit and
        `ntpd-ivr config reload` (delete it to start over from the example)."""
        return self.layout.run_dir / "routing.toml"

    def _write_generated(self, etc: Path) -> None:
        """What is generated from this stack's state, over the repository's copies."""
        write_includes(AccountStore(self.takers_file).accounts.values(),
                       str(self.takers_file), etc)
        for path, text in rendered_files(load_routing_config(self.routing_file),
                                         etc, etc).items():
            write_generated(path, text)

    def up(self) -> None:
        install = find_or_build_asterisk()
        self.asterisk = AsteriskInstance(install, self.layout.name, {})
        self.asterisk.after_render = self._write_generated
        if not self.routing_file.exists():
            shutil.copyfile(ROUTING_CONFIG, self.routing_file)
        prompts_inside = f"{self.asterisk.base}/prompts"
        self.asterisk.values.update(self._asterisk_values(prompts_inside))
        _progress(f"TLS: local CA and SIP certificate in {self.tls_dir}")
        self._install_certificate()
        _progress("rendering prompts (espeak-ng, Bahasa Indonesia)")
        render_prompts(self.asterisk.host_path(prompts_inside))
        if isinstance(self.postgres, LocalPostgres):  # the HA stack's pair: started already
            _progress(f"PostgreSQL on {LOOPBACK}:{self.layout.pg_port}")
        self.postgres.init()
        self.postgres.start()
        self.postgres.ensure_runtime_role()
        # In a thread of its own: alembic runs its own event loop, and up() may be called
        # where one is already running (a Playwright browser test's, for one). One at a
        # time in a process: alembic's migration context is process-global, and two
        # stacks brought up side by side (tests/two_centers.py) hung in it.
        with _MIGRATING, ThreadPoolExecutor(1, thread_name_prefix="migrate") as migrate:
            migrate.submit(upgrade, self.postgres.url,
                           runtime_role=self.postgres.runtime_user).result()
        self._write_controller_settings(prompts_inside)
        users = UserStore(self.layout.run_dir / "users.toml")
        if "supervisor" not in users.users:
            users.put("supervisor", "supervisor", self.secrets["web_supervisor_password"])
        self.asterisk.start()
        if self.runs_kannel:
            self._start_kannel()
        self._link_security_log()
        self.layout.state_file.write_text(json.dumps(
            {**asdict(self.layout), "run_dir": str(self.layout.run_dir),
             "database_url_file": str(self.layout.settings_file)}, indent=2))

    @property
    def security_log(self) -> Path:
        """Asterisk's security log (logger.conf: refused SIP requests, for fail2ban), as
        linked into the run folder."""
        return self.layout.run_dir / "asterisk-security.log"

    def _link_security_log(self) -> None:
        assert self.asterisk is not None
        target = self.asterisk.host_path(f"{self.asterisk.base}/log/security.log")
        self.security_log.unlink(missing_ok=True)
        self.security_log.symlink_to(target)

    def down(self) -> None:
        if self.fake_smsc is not None:
            self.fake_smsc.stop()
        if self.kannel is not None:
            self.kannel.stop()
        if self.asterisk is not None:
            self.asterisk.stop()
        self.postgres.stop()

    def describe(self) -> str:
        layout = self.layout
        return "\n".join([
            f"  SIP (operator trunk from {OPERATOR_IP})  udp {self.bind}:{layout.sip_port}",
            f"  SIP over TLS (call-takers)   tls {self.bind}:{layout.sip_tls_port} "
            f"(phones trust {self.tls_dir / 'ca.crt'})",
            f"  call-taker stand-ins         {TAKER_IP}:{layout.taker_ports[0]}, "
            f"{TAKER_IP}:{layout.taker_ports[1]}",
            f"  AMI                          tcp {self.bind}:{layout.ami_port}",
            f"  FastAGI (controller)         tcp {self.bind}:{layout.agi_port}",
            f"  web / health                 http://{LOOPBACK}:{layout.web_port}/ "
            f"(/healthz is public)",
            f"  web login                    user supervisor, password "
            f"web_supervisor_password in {layout.run_dir / 'secrets.json'}",
            f"  PostgreSQL                   tcp {LOOPBACK}:{layout.pg_port} (db ntpd)",
            f"  settings (with secrets)      {layout.settings_file}",
            f"  routing config               {self.routing_file} (edit, then "
            f"`ntpd-ivr config reload --config {layout.settings_file}`)",
            f"  Asterisk logs                "
            f"{self.asterisk.messages_log if self.asterisk else '-'}",
            f"  SIP security log (fail2ban)  {self.security_log}",
            *([f"  Kannel sendsms / admin       http://{LOOPBACK}:{layout.sms_ports[2]} / "
               f"{layout.sms_ports[0]} (fake SMSC; MTs in "
               f"{layout.run_dir / 'fakesmsc.log'})",
               f"  ELS receiver / location link http://{self.bind}:{layout.location_ports[0]}"
               f"/els (dev-operator, els_secret) / http://{self.bind}:"
               f"{layout.location_ports[1]}/l/<token>"] if self.runs_kannel else []),
        ])

    def destroy(self) -> None:
        """Remove this stack's Asterisk instance folder and database (tests only)."""
        if self.asterisk is not None:
            shutil.rmtree(self.asterisk.host_path(self.asterisk.base), ignore_errors=True)
        shutil.rmtree(self.postgres.data_dir.parent, ignore_errors=True)
