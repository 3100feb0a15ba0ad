"""The Patroni pair's config and the controllers' multi-host URL (stack/patroni.py), and
which database errors the API answers 503 (db/unreachable.py). The pair itself runs in
tests/e2e/test_failover.py."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ntpd_ivr.db.unreachable import database_unreachable
from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.patroni import LOOP_WAIT_S, RETRY_TIMEOUT_S, TTL_S, PatroniCluster, PatroniPorts

SECRETS = {"db_password": "owner-pw", "db_runtime_password": "app-pw",
           "db_superuser_password": "super-pw", "db_replication_password": "repl-pw",
           "db_patroni_rest_password": "rest-pw"}
PORTS = PatroniPorts(2389, 2390, (5434, 5435), (8131, 8132))


def cluster(tmp_path: Path, host: str = "127.0.0.1") -> PatroniCluster:
    return PatroniCluster(tmp_path / "pg", PORTS, SECRETS, host=host)


def test_the_controllers_url_names_both_nodes_and_asks_for_the_writable_one(
        tmp_path: Path) -> None:
    url = make_url(cluster(tmp_path).runtime_url)
    assert url.drivername == "postgresql+asyncpg" and url.username == "ntpd_app"
    assert url.password == "app-pw" and url.database == "ntpd" and url.host is None
    _args, kwargs = url.get_dialect()().create_connect_args(url)
    assert kwargs["host"] == ["127.0.0.1", "127.0.0.1"] and kwargs["port"] == [5434, 5435]
    assert kwargs["target_session_attrs"] == "read-write"
    assert make_url(cluster(tmp_path).url).username == "ntpd"


def test_each_node_is_on_loopback_synchronous_with_scram_and_its_own_ports(
        tmp_path: Path) -> None:
    pair = cluster(tmp_path)
    for index in (0, 1):
        config = json.loads(pair._render(index))
        assert config["postgresql"]["listen"] == f"127.0.0.1:{PORTS.postgres[index]}"
        assert config["restapi"]["listen"] == f"127.0.0.1:{PORTS.rest[index]}"
        assert config["etcd3"]["hosts"] == "127.0.0.1:2389"
        dcs = config["bootstrap"]["dcs"]
        assert dcs["synchronous_mode"] is True and dcs["postgresql"]["use_pg_rewind"]
        assert all(line.endswith("127.0.0.1/32 scram-sha-256")
                   for line in config["bootstrap"]["pg_hba"])
        assert config["postgresql"]["authentication"]["superuser"]["password"] == "super-pw"
        # Only with the password may anyone on the machine switch over or restart a node.
        assert config["restapi"]["authentication"]["password"] == "rest-pw"
    # Patroni's own rule: the leader key outlives a loop and two retries.
    assert LOOP_WAIT_S + 2 * RETRY_TIMEOUT_S <= TTL_S


def test_a_pair_off_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="loopback only"):
        cluster(tmp_path, host="192.0.2.1")


def wrapped(orig: BaseException) -> DBAPIError:
    """What SQLAlchemy raises around a driver error."""
    return OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize("error", [
    ConnectionRefusedError(111, "refused"),
    TimeoutError(),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
    asyncpg.TargetServerAttributeNotMatched("none of the hosts match read-write"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
])
def test_a_database_away_or_failing_over_is_unreachable(error: BaseException) -> None:
    assert database_unreachable(error)
    assert database_unreachable(wrapped(error))
    try:  # as SQLAlchemy chains it: the adapted error's cause
        try:
            raise error
        except BaseException as cause:
            raise RuntimeError("adapted") from cause
    except RuntimeError as adapted:
        assert database_unreachable(wrapped(adapted))


@pytest.mark.parametrize("error", [
    ValueError("bad input"),
    IntegrityError("INSERT", {}, asyncpg.UniqueViolationError("duplicate key")),
    KeyError("x"),
])
def test_a_fault_of_the_request_or_the_code_is_not(error: BaseException) -> None:
    assert not database_unreachable(error)
