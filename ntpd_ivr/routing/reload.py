"""Routing reloaded live: `ntpd-ivr config reload` and SIGHUP.

The command validates the routing file (refused with the file and key of the mistake,
nothing touched), checks it against Asterisk's configuration as it will be, writes what is
generated from it (ntpd-agencies.conf, pjsip-operators.conf) into Asterisk's folder,
reloads Asterisk (dialplan, PJSIP, queues: live calls stay), then signals the controller,
which loads the file again. The controller keeps its running config when the new file is
bad; a call in progress keeps the config it started with (ntpd_ivr/ivr/emergency.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

from ntpd_ivr.errors import ConfigError, StackError
from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from ntpd_ivr.routing.render import check, rendered_files, write_generated

log = logging.getLogger(__name__)


def load_for_reload(path: str, current: RoutingConfig) -> RoutingConfig:
    """The routing file loaded again, or `current` (logged) when it is bad."""
    try:
        config = load_routing_config(path)
    except ConfigError as exc:
        log.error("routing config not reloaded, the running one stays: %s", exc)
        return current
    log.info("routing config reloaded from %s: %d region(s), %d agency(ies), %d operator(s)",
             config.source, len(config.regions), len(config.agencies), len(config.operators))
    return config


def render_into(config: RoutingConfig, conf_dir: Path, edge_ip: str = "") -> list[Path]:
    """Check the config against Asterisk's folder as it will be, then write the generated
    files there. Raises ConfigError (nothing written) when they would not agree. `edge_ip`:
    the node is behind the Kamailio edge at that address (settings `edge.address`)."""
    if not conf_dir.is_dir():
        raise ConfigError(f"asterisk.conf_dir: {conf_dir} is not a directory")
    files = rendered_files(config, conf_dir, conf_dir, edge_ip=edge_ip)
    with tempfile.TemporaryDirectory(prefix="ntpd-routing-check-") as scratch:
        trial = Path(scratch)
        for conf in conf_dir.glob("*.conf"):
            shutil.copyfile(conf, trial / conf.name)
        for path, text in files.items():
            (trial / path.name).write_text(text, encoding="utf-8")
        problems = check(config, trial, trial, edge_ip)
    if problems:
        raise ConfigError("; ".join(p.replace(str(trial), str(conf_dir)) for p in problems))
    for path, text in files.items():
        tmp = path.with_name(path.name + ".tmp")
        write_generated(tmp, text)
        tmp.replace(path)
    return list(files)


def write_pid_file(path: str) -> None:
    if path:
        Path(path).write_text(f"{os.getpid()}\n")


def remove_pid_file(path: str) -> None:
    if path and Path(path).exists() and Path(path).read_text().strip() == str(os.getpid()):
        Path(path).unlink()


def signal_controller(pid_file: str) -> int:
    """SIGHUP to the controller named by its pid file; returns its pid."""
    if not pid_file:
        raise StackError("service.pid_file is not set: restart the controller to load the "
                         "routing config, or send it SIGHUP")
    try:
        pid = int(Path(pid_file).read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        raise StackError(f"{pid_file}: no controller to signal ({exc}); it loads the routing "
                         "config when it starts") from None
    return pid
