"""ntpd-ivr command line. `ntpd-ivr --help` lists the commands; each has its own --help."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ntpd_ivr.errors import ConfigError, StackError

DEFAULT_RUN_DIR = Path(".run")


def _load(args: argparse.Namespace) -> Any:
    from ntpd_ivr.settings import load_settings

    overrides: dict[str, dict[str, Any]] = {}
    if getattr(args, "log_level", None):
        overrides["log"] = {"level": args.log_level}
    return load_settings(args.config, overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from ntpd_ivr.app import Service
    from ntpd_ivr.log import setup_logging

    settings = _load(args)
    setup_logging(settings.log.level)
    asyncio.run(Service(settings).run())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ntpd_ivr.app import Service
    from ntpd_ivr.log import setup_logging
    from ntpd_ivr.settings import load_settings
    from ntpd_ivr.stack.devstack import DevStack, StackLayout

    stack = DevStack(StackLayout.dev(args.run_dir.resolve()))
    try:
        stack.up()
        settings = load_settings(stack.layout.settings_file, overrides={
            "log": {"level": args.log_level or "INFO"}})
        print("\nntpd-ivr is up. Where each part listens:\n" + stack.describe(), flush=True)
        print("\nPlace a test call with `make call` (another terminal). Ctrl-C stops all.\n",
              flush=True)
        setup_logging(settings.log.level)
        asyncio.run(Service(settings).run())
    finally:
        stack.down()
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM (`kill`, a service manager) stops like Ctrl-C: through the `finally` that
    takes the stack down, instead of leaving Asterisk, Kamailio and PostgreSQL behind."""
    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)


def cmd_run_ha(args: argparse.Namespace) -> int:
    from ntpd_ivr.stack.hastack import HaLayout, HaStack

    stack = HaStack(HaLayout.dev(args.run_dir.resolve()))
    _stop_on_sigterm()
    try:
        stack.up()
        stack.start_controllers()
        print("\nntpd-ivr (two nodes) is up. Where each part listens:\n" + stack.describe(),
              flush=True)
        print("\nCtrl-C stops all. A node, a controller or the edge can be killed to "
              "watch the failover (docs/ha.md).\n", flush=True)
        while True:
            for controller in stack.controllers:
                if controller.process is not None and controller.process.poll() is not None:
                    print(f"[ntpd-ivr] controller {controller.settings_file.parent.name} "
                          f"exited ({controller.process.returncode}): the other node's "
                          "controller serves its calls; see its controller.log", flush=True)
                    controller.process = None
            time.sleep(1)
    finally:
        stack.down()


def cmd_bench_failover(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.failover import bench_failover

    return bench_failover(rate=args.rate, seconds=args.seconds, fault_at=args.fault_at,
                          talk_ms=args.talk_ms, out=args.out, keep=args.keep,
                          faults=args.faults)


def cmd_call(args: argparse.Namespace) -> int:
    from ntpd_ivr.stack.devstack import OPERATOR_IP, TAKER_IP
    from ntpd_ivr.stack.sipp import Taker, place_call

    state_file = args.run_dir / "stack.json"
    if not state_file.exists():
        raise StackError(f"{state_file} not found: start the service first with `make run` "
                         "(or `make run-ha`, then `make call-ha`)")
    state = json.loads(state_file.read_text())
    taker = Taker(TAKER_IP, state["taker_ports"][0], talk_ms=args.talk_ms)
    started = time.time()
    caller, settings_file = args.caller, args.run_dir / "ntpd-ivr.toml"
    if "edge" in state:  # `make run-ha`: through the Kamailio edge, like an operator
        target = state["edge"]
        settings_file = Path(state["nodes"][0]["settings_file"])
        scenario: str | None = "ha-caller.xml"  # honours Record-Route; adds the call number
        caller_on_record = caller + "1"
        if args.digit == "":
            raise StackError("a call through the edge presses a key (ha-caller.xml): "
                             "give --digit 0-9, * or #")
    else:
        target, scenario, caller_on_record = f"127.0.0.1:{state['sip_port']}", None, caller
    print(f"calling {args.dialed} at {target} from {caller_on_record}, pressing "
          f"{args.digit or 'nothing'}...")
    try:
        result = place_call(target, OPERATOR_IP, 0, dialed=args.dialed,
                            digit=args.digit or None, caller=caller, scenario=scenario)
        taker.wait(timeout=10)
    finally:
        taker.stop()
    print("call " + ("completed" if result.ok else f"FAILED:\n{result.output[-2000:]}"))
    row = asyncio.run(_latest_call(settings_file, caller_on_record, started))
    if row is None:
        print("no call record found")
        return 1
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(f"  {key:<{width}}  {value}")
    return 0 if result.ok else 1


async def _latest_call(settings_file: Path, caller: str, since: float) -> dict[str, Any] | None:
    from ntpd_ivr.calls.repository import CallsRepository
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.numbers import canonical_caller
    from ntpd_ivr.settings import load_settings

    engine = make_engine(load_settings(settings_file).database)
    calls = CallsRepository(engine)
    try:
        deadline = time.monotonic() + 10
        while True:
            found = await calls.latest_of_caller(canonical_caller(caller))
            if found and found["ended_at"] is not None and \
                    found["arrived_at"].timestamp() >= since - 1:
                return found
            if time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from ntpd_ivr.db.migrate import upgrade

    database = _load(args).database
    url = args.url or database.owner_url or database.url
    runtime = make_url(database.url).username if database.url else None
    if runtime == make_url(url).username:
        runtime = None  # one role for both: nothing to grant
    upgrade(url, runtime_role=runtime)
    print("database schema is at head"
          + (f"; role {runtime} has rows only, audit_events INSERT/SELECT" if runtime else ""))
    return 0


def _check_agency(agency: str, routing_file: str) -> None:
    """An agency user's agency must be one the routing config knows, or it would see
    nothing and nobody would know why."""
    from ntpd_ivr.routing.config import load_routing_config

    if not routing_file:
        return
    known = load_routing_config(routing_file).agencies
    if agency not in known:
        raise ConfigError(f"--agency {agency}: no such agency in {routing_file} "
                          f"(known: {', '.join(sorted(known))})")


def _user_settings(args: argparse.Namespace) -> tuple[Path, Any]:
    """The users file and the database its changes are audited in. A bare --users-file
    without settings (no --config, no $NTPD_IVR_CONFIG) is changed unaudited, and said so."""
    from ntpd_ivr.settings import ENV_PREFIX, DatabaseSettings

    if args.users_file and not args.config and not os.environ.get(ENV_PREFIX + "CONFIG"):
        return Path(args.users_file), DatabaseSettings()
    settings = _load(args)
    path = args.users_file or Path(settings.web.users_file or "")
    if not str(path):
        raise ConfigError("no users file: pass --users-file or set web.users_file")
    return Path(path), settings.database


def _user_detail(user: Any) -> dict[str, Any]:
    return {"role": user.role, "agency": user.agency or None,
            "sip_endpoint": user.sip_endpoint}


def cmd_user_add(args: argparse.Namespace) -> int:
    import secrets as token_source

    from ntpd_ivr.audit import cli as audit
    from ntpd_ivr.web.auth import UserStore

    path, database = _user_settings(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 10:
            raise ConfigError("password from stdin: use at least 10 characters")
    else:
        password = token_source.token_urlsafe(12)
    if args.agency and args.config:
        _check_agency(args.agency, _load(args).ivr.routing_config)
    store = UserStore(path)
    before = store.users.get(args.name)
    store.put(args.name, args.role, password, args.agency or "",
              sip_endpoint=args.sip_endpoint)
    after = store.users[args.name]
    print(f"user {args.name} ({args.role}{' of ' + args.agency if args.agency else ''}) "
          f"saved in {path}")
    if not args.password_stdin:
        print(f"generated password (shown once): {password}")
    # Never the password or its hash: who, what role, and that the password was set.
    if before is None:
        action, detail = "user.added", _user_detail(after)
    else:
        action = "user.role-changed" if before.role != after.role else "user.changed"
        detail = {"before": _user_detail(before), "after": _user_detail(after),
                  "password": "reset"}
    return audit.write(database, audit.actor(args.by), action, "user", args.name,
                       {**detail, "file": str(path)})


def cmd_user_remove(args: argparse.Namespace) -> int:
    from ntpd_ivr.audit import cli as audit
    from ntpd_ivr.web.auth import UserStore

    path, database = _user_settings(args)
    removed = UserStore(path).remove(args.name)
    print(f"user {removed.name} ({removed.role}) removed from {path}")
    return audit.write(database, audit.actor(args.by), "user.removed", "user",
                       removed.name, {**_user_detail(removed), "file": str(path)})


def _numbers(text: str, flag: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"{flag} must be positive numbers, comma-separated")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.held import held_levels
    from ntpd_ivr.bench.runner import bench

    rates = _numbers(args.rates, "--rates")
    paths = "".join(dict.fromkeys(args.paths))
    if set(paths) - set("abcf"):
        raise ConfigError("--paths: letters of 'abcf' ('' for none)")
    if args.fine_step < 0 or args.held < 0 or args.held_rate <= 0 or args.held_steps < 1:
        raise ConfigError("--fine-step and --held must be >= 0, --held-rate > 0, "
                          "--held-steps >= 1")
    levels = ([round(v) for v in _numbers(args.held_levels, "--held-levels")]
              if args.held_levels else held_levels(args.held, args.held_steps))
    return bench(paths=paths, rates=rates, fine_step=args.fine_step,
                 step_seconds=args.step_seconds, p99_limit_ms=args.p99_limit_ms,
                 taker_p99_limit_ms=args.taker_p99_limit_ms, talk_ms=args.talk_ms,
                 surge_hold=args.surge_hold, soak_minutes=args.soak_minutes,
                 soak_rate=args.soak_rate, held_levels=levels, held_rate=args.held_rate,
                 held_seconds=args.held_seconds, out=args.out, keep=args.keep,
                 baseline_rev=args.baseline_rev)


def cmd_bench_profile(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.profile import profile

    if args.rate <= 0 or args.seconds <= 0 or args.top < 1:
        raise ConfigError("--rate and --seconds must be > 0, --top >= 1")
    return profile(rate=args.rate, seconds=args.seconds, talk_ms=args.talk_ms, top=args.top,
                   out=args.out, keep=args.keep)


def cmd_bench_warning(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.warning import bench_warning

    if (args.contacts < args.rounds or args.rounds < 1 or args.rate <= 0
            or args.step_seconds <= 0 or args.max_channels < 1 or args.calls_per_second <= 0
            or args.ramp_seconds < 0):
        raise ConfigError("--contacts >= --rounds >= 1; --rate, --step-seconds, "
                          "--max-channels and --calls-per-second must be positive")
    return bench_warning(contacts=args.contacts, rate=args.rate, rounds=args.rounds,
                         step_seconds=args.step_seconds, talk_ms=args.talk_ms,
                         max_channels=args.max_channels,
                         calls_per_second=args.calls_per_second,
                         ramp_seconds=args.ramp_seconds, out=args.out, keep=args.keep)


def cmd_bench_faults(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.runner import bench_faults

    return bench_faults(rate=args.rate, db_down_seconds=args.db_down_seconds,
                        talk_ms=args.talk_ms, out=args.out, keep=args.keep)


def cmd_bench_location(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.location import bench_location

    if not 1 <= args.messages <= 1000:
        raise ConfigError("--messages must be 1-1000")
    return bench_location(messages=args.messages, out=args.out, keep=args.keep)


def cmd_bench_texts(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.texts import bench_texts

    if not 1 <= args.sessions <= 200 or not 1 <= args.rounds <= 50:
        raise ConfigError("--sessions must be 1-200 and --rounds 1-50")
    return bench_texts(sessions=args.sessions, rounds=args.rounds, out=args.out,
                       keep=args.keep)


def cmd_bench_prank(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.prank import PrankBench, bench_prank

    if args.rate <= 0 or args.segment_seconds < 10 or args.rounds < 1:
        raise ConfigError("--rate must be > 0, --segment-seconds >= 10, --rounds >= 1")
    return bench_prank(PrankBench(rate=args.rate, segment_seconds=args.segment_seconds,
                                  rounds=args.rounds, patience_s=args.patience_seconds),
                       out=args.out, keep=args.keep)


def cmd_bench_surge(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.surge import SurgeBench, bench_surge

    if (args.rate <= 0 or args.segment_seconds < 10 or args.rounds < 1 or args.talk_ms < 100
            or args.patience_seconds < 5 or not 2 <= args.takers <= 4
            or args.about_key_off not in ("8", "4", "0")):
        raise ConfigError("--rate must be > 0, --segment-seconds >= 10, --rounds >= 1, "
                          "--talk-ms >= 100, --patience-seconds >= 5, --takers 2 to 4, "
                          "--about-key-off 8, 4 or 0")
    return bench_surge(SurgeBench(rate=args.rate, segment_seconds=args.segment_seconds,
                                  rounds=args.rounds, talk_ms=args.talk_ms,
                                  patience_s=args.patience_seconds, takers=args.takers,
                                  about_key_off=args.about_key_off),
                       out=args.out, keep=args.keep)


def cmd_bench_screens(args: argparse.Namespace) -> int:
    from ntpd_ivr.bench.screens import ScreensBench, bench_screens

    if (args.rate <= 0 or args.step_seconds < 5 or args.rounds < 1 or args.talk_ms < 100
            or min(args.walls, args.desks, args.agencies, args.browsers) < 0
            or args.walls + args.desks + args.agencies < 1):
        raise ConfigError("--rate must be > 0, --step-seconds >= 5, --rounds >= 1, "
                          "--talk-ms >= 100, --walls/--desks/--agencies/--browsers >= 0 "
                          "with at least one screen")
    return bench_screens(ScreensBench(rate=args.rate, step_seconds=args.step_seconds,
                                      rounds=args.rounds, walls=args.walls, desks=args.desks,
                                      agencies=args.agencies, browsers=args.browsers,
                                      slow=not args.no_slow_client, talk_ms=args.talk_ms,
                                      controller_rev=args.controller_rev),
                         out=args.out, keep=args.keep)


def _routing(args: argparse.Namespace) -> Any:
    from ntpd_ivr.routing.config import load_routing_config

    path = args.routing or (_load(args).ivr.routing_config if args.config else "")
    if not path:
        raise ConfigError("no routing config: give --routing FILE, or --config with "
                          "ivr.routing_config set")
    return load_routing_config(path)


def cmd_config_check(args: argparse.Namespace) -> int:
    from ntpd_ivr.routing.render import check

    config = _routing(args)
    problems = check(config, args.asterisk_conf, args.dialplan)
    for problem in problems:
        print(problem, file=sys.stderr)
    for warning in config.prank.warnings(config.source):
        print(f"warning: {warning}", file=sys.stderr)
    from ntpd_ivr.places.package import PACKAGE, VERSION
    if config.places_package and config.places_package != f"{PACKAGE} {VERSION}":
        print(f"warning: {config.places_file}: imported from {config.places_package}, not the "
              f"pinned {PACKAGE} {VERSION}: `ntpd-ivr places import` again (docs/places.md)",
              file=sys.stderr)
    from ntpd_ivr.numbers import trunk_number
    stated = config.stated_number_formats()
    print("numbers dialled out (number_format): " + (", ".join(
        f"{trunk} {trunk_number('+62812345678', form)} ({form})"
        for trunk, form in stated.items()) or "no trunk says one") + "; any other trunk: "
        "callbacks +62812345678, warning calls 0812345678, agencies as the operator sent it")
    print(f"{config.source}: {len(config.regions)} region(s), {len(config.agencies)} "
          f"agency(ies), {len(config.operators)} operator(s): "
          + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


def cmd_config_render(args: argparse.Namespace) -> int:
    from ntpd_ivr.routing.render import rendered_files, write_generated

    for path, text in rendered_files(_routing(args), args.asterisk_conf, args.out).items():
        write_generated(path, text)
        print(path)
    return 0


def cmd_config_reload(args: argparse.Namespace) -> int:
    from ntpd_ivr.asterisk_reload import reload_modules
    from ntpd_ivr.routing.config import load_routing_config
    from ntpd_ivr.routing.reload import render_into, signal_controller

    settings = _load(args)
    path = settings.ivr.routing_config
    if args.routing and (not path or Path(args.routing).resolve() != Path(path).resolve()):
        raise ConfigError(f"--routing {args.routing}: reload loads the controller's own "
                          f"routing file, ivr.routing_config ({path or 'not set'}): edit that")
    if path:
        # A bad file stops here, with its file and key: nothing is written or reloaded.
        # Behind the edge (edge.address "ip:port"), operators stay named by its header.
        edge_ip = settings.edge.address.rsplit(":", 1)[0] if settings.edge.address else ""
        for written in render_into(load_routing_config(path), Path(settings.asterisk.conf_dir),
                                   edge_ip=edge_ip):
            print(f"wrote {written}")
    results = asyncio.run(reload_modules(settings.ami))
    print("\n".join(f"{module}: {'Success' if ok else 'Error'}" for module, ok in results))
    if not all(ok for _, ok in results):
        return 1
    if path:
        pid = signal_controller(settings.service.pid_file)
        print(f"controller (pid {pid}): SIGHUP, loads {path} again")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    from ntpd_ivr.ivr.prompts import render_prompts

    for path in render_prompts(args.out):
        print(path)
    return 0


def _menu_key(text: str) -> str:
    """One DTMF key, or "" for a caller who presses nothing."""
    if text and (len(text) != 1 or text not in "0123456789*#"):
        raise argparse.ArgumentTypeError(f"one key (0-9, * or #) or '' for none, not {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntpd-ivr",
        description="NTPD 112 emergency call center controller for Asterisk 22.",
        epilog="Settings: defaults, then --config FILE (TOML), then NTPD_IVR_<SECTION>_<KEY> "
               "environment variables, then command-line flags.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", type=Path, default=None,
                       help="settings file (TOML); default $NTPD_IVR_CONFIG")
        p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    p = sub.add_parser("serve", help="run the controller: FastAGI IVR, AMI tracking, web",
                       description="Run the controller against an Asterisk and PostgreSQL "
                                   "that are already running.")
    with_config(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("run", help="bring up the whole local service (what `make run` does)",
                       description="Provision and start Asterisk 22 and PostgreSQL on "
                                   "loopback, migrate the schema, then run the controller. "
                                   "Ctrl-C stops everything.")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                   help="state, secrets and logs (default .run)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("run-ha", help="the two-node center on loopback (what `make run-ha` "
                                      "does)",
                       description="Kamailio (the SIP edge) in front of two Asterisk 22 nodes "
                                   "(127.0.0.10 active, 127.0.0.11 standby), each with its "
                                   "controller, one PostgreSQL. docs/ha.md. Ctrl-C stops all.")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR / "ha",
                   help="state, secrets and logs (default .run/ha)")
    p.set_defaults(func=cmd_run_ha)

    p = sub.add_parser("call", help="place a test 112 call into the running local service",
                       description="Place one SIP call with SIPp from the operator trunk, "
                                   "answer it with a call-taker stand-in, and print the call "
                                   "record from PostgreSQL.")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                   help="the running service's state (default .run; .run/ha for "
                        "`make run-ha`: the call then goes through the Kamailio edge)")
    p.add_argument("--digit", type=_menu_key, default="1",
                   help="menu key to press: 0-9, * or #; '' presses nothing")
    p.add_argument("--dialed", default="112")
    p.add_argument("--caller", default="081234567890")
    p.add_argument("--talk-ms", type=int, default=1500)
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("db", help="database schema (alembic)")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="migrate the schema to the newest revision")
    with_config(up)
    up.add_argument("--url", help="the owner's database URL instead of the settings' "
                                  "database.owner_url (or database.url)")
    up.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("user", help="web users and roles (calltaker, supervisor, admin, "
                                    "agency)")
    user_sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="add a user or reset a password",
                              description="Add a web user, or set a new password and role "
                                          "for an existing one. Without --password-stdin a "
                                          "password is generated and shown once.")
    add.add_argument("name")
    add.add_argument("--role", choices=["calltaker", "supervisor", "admin", "agency"],
                     required=True)
    add.add_argument("--agency", help="with --role agency: the agency it acts for, "
                                      "<region>-<agency> as in the routing config")
    add.add_argument("--users-file", type=Path, help="default: the settings' web.users_file")
    add.add_argument("--sip-endpoint", help="a call-taker's PJSIP endpoint (e.g. ani, "
                                            "taker-1): their screen pops when it rings")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    remove = user_sub.add_parser("remove", help="remove a user",
                                 description="Remove a web user from the users file.")
    remove.add_argument("name")
    remove.add_argument("--users-file", type=Path,
                        help="default: the settings' web.users_file")
    for command in (add, remove):
        command.add_argument("--by", help="who makes the change, for the audit trail "
                                          "(default cli:<login name>); the trail is the "
                                          "settings' [database]")
        with_config(command)
    add.set_defaults(func=cmd_user_add)
    remove.set_defaults(func=cmd_user_remove)

    p = sub.add_parser("config", help="routing config: check, render, reload")
    cfg_sub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    repo = Path(__file__).resolve().parents[1]
    for name, func, helptext in (
            ("check", cmd_config_check, "validate the routing config against the Asterisk "
             "queues, endpoints and contexts it names"),
            ("render", cmd_config_render, "generate dialplan/ntpd-agencies.conf (into --out) "
             "and asterisk-conf/pjsip-operators.conf (into --asterisk-conf) from it"),
            ("reload", cmd_config_reload, "check the routing config, render it into "
             "asterisk.conf_dir, reload dialplan, PJSIP and queues over AMI, and make the "
             "controller load it again (SIGHUP); live calls keep their route")):
        c = cfg_sub.add_parser(name, help=helptext, description=helptext)
        with_config(c)
        c.add_argument("--routing", type=Path, help="routing config (default: the settings' "
                       "ivr.routing_config)")
        c.add_argument("--asterisk-conf", type=Path, default=repo / "asterisk-conf")
        c.add_argument("--dialplan", type=Path, default=repo / "dialplan")
        c.add_argument("--out", type=Path, default=repo / "dialplan")
        c.set_defaults(func=func)

    p = sub.add_parser("prompts", help="render prompt audio (espeak-ng + sox)")
    p.add_argument("--out", type=Path, default=Path("build/prompts"))
    p.set_defaults(func=cmd_prompts)

    from ntpd_ivr.calls.commands import add_commands as add_reconcile_command
    add_reconcile_command(sub, with_config, _load)
    from ntpd_ivr.reports.commands import add_commands
    add_commands(sub, with_config, _load)
    from ntpd_ivr.takers.commands import add_commands as add_taker_commands
    add_taker_commands(sub, with_config, _load)
    from ntpd_ivr.api.commands import add_commands as add_token_commands
    add_token_commands(sub, with_config, _load)
    from ntpd_ivr.campaigns.commands import add_commands as add_campaign_commands
    add_campaign_commands(sub, with_config, _load)
    from ntpd_ivr.prank.commands import add_commands as add_strike_commands
    add_strike_commands(sub, with_config, _load)
    from ntpd_ivr.places.commands import add_commands as add_places_commands
    add_places_commands(sub, with_config, _load)

    p = sub.add_parser("bench", help="load benchmark: capacity of four IVR paths, surge, "
                       "held callers, soak",
                       description="Bring up an ephemeral stack with the bench trunks and "
                                   "ramp SIPp calls through (a) the controller's FastAGI IVR, "
                                   "(b) a pure-dialplan IVR, (c) a pyst2 process-per-call AGI, "
                                   "(f) the floor: a minimal asyncio FastAGI server, "
                                   "interleaved (each rate runs every path, in an order that "
                                   "rotates), then in --fine-step steps near each path's knee; "
                                   "report the top rates, the ratios a/b, a/c and a/f, the "
                                   "controller's CPU ms per call and a/f's CPU per call "
                                   "(controller vs floor server); then a surge on (a), the "
                                   "held-callers run and a soak on (a). "
                                   "See docs/performance.md.")
    p.add_argument("--paths", default="abcf", help="IVR paths to ramp (default abcf; '' for "
                   "none, e.g. to run only the held callers)")
    p.add_argument("--rates", default="5,10,20,40,80,120,160,240,320",
                   help="coarse calls/s per ramp step, comma-separated")
    p.add_argument("--fine-step", type=float, default=10.0,
                   help="calls/s between the fine steps run between each path's last "
                        "carried coarse rate and its first rate not carried (default 10; "
                        "0: only --rates)")
    p.add_argument("--step-seconds", type=float, default=10.0)
    p.add_argument("--p99-limit-ms", type=float, default=500.0,
                   help="INVITE->200 p99 above this ends a ramp (default 500)")
    p.add_argument("--taker-p99-limit-ms", type=float, default=5000.0,
                   help="time-to-call-taker p99 above this ends a ramp (default 5000; an "
                        "unloaded call takes ~1000: digit at 500 ms, 300 ms ring)")
    p.add_argument("--talk-ms", type=int, default=2000, help="call-taker talk time")
    p.add_argument("--surge-hold", type=float, default=60.0,
                   help="seconds at the top rate after 10 s at 1 call/s (0: no surge)")
    p.add_argument("--soak-minutes", type=float, default=30.0, help="0: no soak")
    p.add_argument("--soak-rate", type=float, default=None,
                   help="calls/s for the soak (default half the top rate of path a)")
    p.add_argument("--held", type=int, default=1000, metavar="N",
                   help="held callers: callers who press nothing in the menu, then wait in "
                        "the queue with every call-taker paused, raised in --held-steps "
                        "levels to N at once; report controller RSS, event-loop lag and "
                        "records per level; stops at the first level not held or that the "
                        "fd/RTP limits forbid (default 1000; 0: no held-callers run)")
    p.add_argument("--held-steps", type=int, default=4,
                   help="levels up to --held (default 4: 250, 500, 750, 1000)")
    p.add_argument("--held-levels", default="",
                   help="explicit levels instead, comma-separated (e.g. 100,1000)")
    p.add_argument("--held-rate", type=float, default=25.0,
                   help="calls/s while placing held callers (default 25)")
    p.add_argument("--held-seconds", type=float, default=20.0,
                   help="seconds all callers of a level are held at once, after the last "
                        "reached the queue; SIPp then hangs each one up (default 20)")
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true", help="keep the stack's folders and logs")
    p.add_argument("--baseline-rev", default=None, metavar="REV",
                   help="also ramp path a with the controller of git revision REV (a "
                        "branch, tag or commit of this repository), shown as a@REV: same "
                        "Asterisk, trunk, database and settings, REV's source run with this "
                        "interpreter, in turn with this tree's controller; the summary gives "
                        "a/a@REV for calls/s and for CPU per call at each rate both carried")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("bench-profile", help="py-spy on the controller under path-a load",
                       description="Bring up a bench stack, place SIPp calls on path a (the "
                                   "controller's FastAGI IVR) at one rate, sample the "
                                   "controller with py-spy meanwhile; print its CPU ms per "
                                   "call and the top frames, and write the raw profile and a "
                                   "flame graph. See docs/performance.md.")
    p.add_argument("--rate", type=float, default=80.0, help="calls/s (default 80)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of calls (default 20)")
    p.add_argument("--talk-ms", type=int, default=2000)
    p.add_argument("--top", type=int, default=25, help="frames listed (default 25)")
    p.add_argument("--out", type=Path, default=Path("build/profile"))
    p.add_argument("--keep", action="store_true", help="keep the stack's folders and logs")
    p.set_defaults(func=cmd_bench_profile)

    p = sub.add_parser("bench-faults", help="faults under load: controller, PostgreSQL, Asterisk",
                       description="Under SIPp load on the operator trunk: SIGKILL and restart "
                                   "the controller, stop PostgreSQL then start it, restart "
                                   "Asterisk; report calls offered, answered, failed and "
                                   "records missing or duplicated.")
    p.add_argument("--rate", type=float, default=20.0, help="calls/s during the faults")
    p.add_argument("--db-down-seconds", type=float, default=60.0)
    p.add_argument("--talk-ms", type=int, default=2000)
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.set_defaults(func=cmd_bench_faults)

    p = sub.add_parser("bench-warning", help="a warning campaign beside 112 load: contacts "
                                             "reached/min, 112 time-to-call-taker p99 ratio",
                       description="Path-a 112 load at --rate (half its top rate by default) "
                                   "in steps without and with a warning campaign, "
                                   "interleaved; reports 112 callers' time to a call-taker "
                                   "p99 with and without, their ratio (goal: within 10 %), "
                                   "and contacts reached per minute.")
    p.add_argument("--contacts", type=int, default=2000, help="contacts, split over rounds")
    p.add_argument("--rate", type=float, default=45.0, help="112 calls/s (path a)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of one step without and one with a campaign (the summary "
                        "takes the median of each)")
    p.add_argument("--step-seconds", type=float, default=60.0)
    p.add_argument("--talk-ms", type=int, default=2000)
    p.add_argument("--max-channels", type=int, default=10, help="campaign channels at once")
    p.add_argument("--calls-per-second", type=float, default=2.0, help="campaign calls/s")
    p.add_argument("--ramp-seconds", type=float, default=60.0,
                   help="campaign ramp after a start or a pause")
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.set_defaults(func=cmd_bench_warning)

    p = sub.add_parser("bench-failover", help="two-node failover under load: node, controller, "
                                              "Kamailio, PostgreSQL",
                       description="The two-node stack under path-a load through Kamailio: "
                                   "SIGKILL the active node, then a controller, then restart "
                                   "Kamailio, then SIGKILL the PostgreSQL primary and a "
                                   "patronictl switchover, then the whole site dark (calls "
                                   "to a second site), each after a fault-free baseline "
                                   "run; report detection time, calls failed (in progress vs "
                                   "new), fallback-queue calls, records lost, latency "
                                   "percentiles and their ratios to the baseline; for the "
                                   "database, when a desk's saves work again and the "
                                   "incidents it saved meanwhile that were lost or doubled.")
    p.add_argument("--rate", type=float, default=40.0,
                   help="calls/s (default 40: half path a's top rate, 80, in "
                        "docs/performance.md)")
    p.add_argument("--seconds", type=float, default=30.0, help="load per fault")
    p.add_argument("--fault-at", type=float, default=10.0, help="seconds into the load")
    p.add_argument("--talk-ms", type=int, default=2000)
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.add_argument("--faults", default="",
                   help="which faults after the baseline, comma-separated, of node, "
                        "controller, edge, db (kill -9 the PostgreSQL primary, then a "
                        "patronictl switchover), site (the whole site dark: calls to the "
                        "second site); default all")
    p.set_defaults(func=cmd_bench_failover)

    p = sub.add_parser("bench-prank", help="genuine callers' time to a human: prank policy "
                       "vs plain FIFO, overloaded call-takers (SIPp)",
                       description="Mixed SIPp traffic (80 %% repeat prank/silent numbers "
                                   "seeded with strikes, 20 %% genuine) against two call-taker "
                                   "stand-ins, in alternating policy and FIFO segments; "
                                   "reports genuine callers' time to a human p50/p95, their "
                                   "abandon rate and the ratios (docs/performance.md).")
    p.add_argument("--rate", type=float, default=0.8, help="calls/s offered (all kinds)")
    p.add_argument("--segment-seconds", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=2, help="policy+fifo segment pairs")
    p.add_argument("--patience-seconds", type=float, default=40.0,
                   help="a caller gives up this long after the answer")
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.set_defaults(func=cmd_bench_prank)

    p = sub.add_parser("bench-surge", help="other emergencies' time to a human with and "
                       "without surge mode, after an earthquake (SIPp)",
                       description="A surge of SIPp callers (80 %% about the event, pressing "
                                   "8; 20 %% with another emergency, pressing 1-4) against "
                                   "call-taker stand-ins (4), in alternating segments without "
                                   "and with surge mode (a replayed InaTEWS alert from a local "
                                   "CAP feed); reports the other emergencies' time to a human "
                                   "p50/p95, their abandon rate and whether any was sent to "
                                   "the information branch (docs/performance.md).")
    p.add_argument("--rate", type=float, default=1.0, help="calls/s offered (all kinds)")
    p.add_argument("--segment-seconds", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=1, help="off+surge segment pairs")
    p.add_argument("--talk-ms", type=int, default=6000, help="each call-taker, every call")
    p.add_argument("--patience-seconds", type=float, default=45.0,
                   help="a caller gives up this long after the answer")
    p.add_argument("--takers", type=int, default=4,
                   help="call-taker stand-ins, one call each (2 to 4)")
    p.add_argument("--about-key-off", default="8",
                   help="what callers about the event press without surge mode: 8 (a wrong "
                        "key: unclassified), 4 (disaster) or 0 (a call-taker)")
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.set_defaults(func=cmd_bench_surge)

    p = sub.add_parser("bench-screens", help="the screens under path-a load: push latency, "
                       "FastAGI probe with and without them, slow clients dropped (SIPp)",
                       description="Path-a SIPp load at RATE in alternating steps without "
                                   "and with the screens: WebSocket clients logged in as "
                                   "walls, desks and agency screens, headless Chromium pages "
                                   "and one client that reads nothing; reports push latency "
                                   "(AMI timestamp -> frame) p50/p99, a FastAGI probe's p99 "
                                   "and the controller's CPU per call in both kinds of step, "
                                   "and the sockets and messages dropped for slowness "
                                   "(docs/performance.md).")
    p.add_argument("--rate", type=float, default=80.0, help="path-a calls/s")
    p.add_argument("--step-seconds", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=2, help="off+on step pairs")
    p.add_argument("--walls", type=int, default=20, help="supervisors' walls (WebSocket)")
    p.add_argument("--desks", type=int, default=20, help="call-takers' desks (WebSocket)")
    p.add_argument("--agencies", type=int, default=10, help="agencies' screens (WebSocket)")
    p.add_argument("--browsers", type=int, default=3,
                   help="headless Chromium pages: a wall, a desk, an agency screen, ...")
    p.add_argument("--no-slow-client", action="store_true",
                   help="leave out the client that reads nothing")
    p.add_argument("--talk-ms", type=int, default=1000, help="each call-taker, every call")
    p.add_argument("--controller-rev", default=None, metavar="REV",
                   help="run the controller of git revision REV instead of this tree's (a "
                        "before/after of the hub); the bench itself is this tree's")
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.set_defaults(func=cmd_bench_screens)

    p = sub.add_parser("bench-location", help="AML SMS into Kannel -> fix on the desk, p50/p99",
                       description="The dev/test stack with Kannel's fake SMSC: one SIPp call "
                                   "pops on a desk, then AML SMS from the caller, each timed "
                                   "to its location.fix on the desk (docs/performance.md).")
    p.add_argument("--messages", type=int, default=30)
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.set_defaults(func=cmd_bench_location)

    p = sub.add_parser("bench-texts", help="112 by SMS: SMS in -> desk, send -> SMSC, p50/p99",
                       description="The dev/test stack with Kannel's fake SMSC: SESSIONS "
                                   "callers text at once, one desk takes and answers them "
                                   "all; the SMS into Kannel timed to text.offered on the "
                                   "desk, each reply to the fake SMSC (docs/performance.md).")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("build/bench"))
    p.add_argument("--keep", action="store_true")
    p.set_defaults(func=cmd_bench_texts)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"ntpd-ivr: configuration error: {exc}", file=sys.stderr)
        return 2
    except StackError as exc:
        print(f"ntpd-ivr: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
