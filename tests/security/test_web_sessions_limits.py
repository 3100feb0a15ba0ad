"""Login limits as a denial of service (issue 19, item 3), against the live controller:
failures for a user from some addresses must not lock that user out from another, and
behind a reverse proxy one client's failures must not lock out the others."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ntpd_ivr.stack.devstack import DevStack
from tests.security.web_sessions_fixtures import Browser, new_user, supervisor_password
from tests.stack_fixtures import Controller

pytestmark = pytest.mark.e2e
PROXY = "127.0.0.2"  # the reverse proxy's address, as the restarted controller trusts it


def test_failures_from_some_addresses_do_not_lock_the_user_out_from_another(
        stack: DevStack, running_controller: Controller) -> None:
    port = stack.layout.web_port
    for n in range(5):  # five wrong passwords for supervisor, from 127.0.0.x
        reply = Browser(port, source=f"127.0.0.{10 + n % 2}").login("supervisor", "guess")
        assert reply.status == 401, reply.body
    right = Browser(port, source="127.0.0.20").login("supervisor", supervisor_password(stack))
    assert right.status == 200, f"supervisor locked out for everyone: {right.status} {right.body}"


def test_the_pair_that_failed_is_slowed_down(
        stack: DevStack, running_controller: Controller) -> None:
    """The defence still holds: one address guessing one user gets 429 before any hash."""
    name, password = new_user(stack, role="calltaker")
    guesser = Browser(stack.layout.web_port, source="127.0.0.30")
    statuses = [guesser.login(name, "guess").status for _ in range(6)]
    assert statuses == [401] * 5 + [429], statuses
    limited = guesser.login(name, password)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


@pytest.fixture
def behind_proxy(running_controller: Controller,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Controller]:
    """The controller restarted to trust PROXY's X-Forwarded-For and X-Forwarded-Proto,
    then restarted as it was."""
    running_controller.stop()
    monkeypatch.setenv("NTPD_IVR_WEB_TRUSTED_PROXIES", PROXY)
    try:
        running_controller.start()
        yield running_controller
    finally:
        running_controller.stop()
        monkeypatch.delenv("NTPD_IVR_WEB_TRUSTED_PROXIES")
        running_controller.start()


def test_behind_a_trusted_proxy_one_clients_failures_do_not_lock_the_others(
        stack: DevStack, behind_proxy: Controller) -> None:
    port = stack.layout.web_port
    name, password = new_user(stack, role="calltaker")
    attacker = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(5):  # the per-(user, address) limit
        Browser(port, source=PROXY).login(name, "guess", headers=attacker)
    assert Browser(port, source=PROXY).login(name, password, headers=attacker).status == 429
    for n in range(15):  # to the per-address limit (20), on other names
        assert Browser(port, source=PROXY).login(f"nobody{n}", "guess",
                                                 headers=attacker).status == 401
    assert Browser(port, source=PROXY).login("supervisor", supervisor_password(stack),
                                             headers=attacker).status == 429
    colleague = Browser(port, source=PROXY)
    reply = colleague.login(name, password, headers={"X-Forwarded-For": "198.51.100.8"})
    assert reply.status == 200, f"one client behind the proxy locked out another: {reply.body}"
    sup = Browser(port, source=PROXY).login("supervisor", supervisor_password(stack),
                                            headers={"X-Forwarded-For": "198.51.100.9"})
    assert sup.status == 200, sup.body


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
        stack: DevStack, behind_proxy: Controller) -> None:
    """A client that writes its own X-Forwarded-For cannot escape the limit of its address."""
    port = stack.layout.web_port
    name, _ = new_user(stack, role="calltaker")
    statuses = [Browser(port, source="127.0.0.40").login(
        name, "guess", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status for n in range(6)]
    assert statuses[-1] == 429, statuses


def test_secure_host_only_cookies_when_the_trusted_proxy_says_https(
        stack: DevStack, behind_proxy: Controller) -> None:
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.10"}
    desk = Browser(stack.layout.web_port, source=PROXY)
    reply = desk.login("supervisor", supervisor_password(stack), headers=https)
    assert reply.status == 200, reply.body
    session = [c for c in reply.set_cookies if c.startswith("__Host-ntpd_session=")]
    assert len(session) == 1, reply.set_cookies
    flags = session[0].lower()
    assert "secure" in flags and "path=/" in flags and "domain=" not in flags
    assert desk.request("GET", "/api/me", headers=https).status == 200
    # The same cookie under the plain name (a plain-HTTP page could plant that one) is
    # not taken as the session of an HTTPS request.
    planted = Browser(stack.layout.web_port, source=PROXY,
                      cookies={"ntpd_session": desk.cookies["__Host-ntpd_session"]})
    assert planted.request("GET", "/api/me", headers=https).status == 401
