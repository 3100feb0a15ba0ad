"""Attacks on web sessions against the live controller (issue 19, item 3): a session that
survives logout, a removed or demoted user who keeps their rights, a CSRF token carried
from one session into another, and cookies a plain-HTTP page or a sibling host could
plant."""

from __future__ import annotations

import pytest

from ntpd_ivr.stack.devstack import DevStack
from tests.security.web_sessions_fixtures import (
    Browser,
    new_user,
    remove_web_user,
    supervisor_password,
)
from tests.stack_fixtures import Controller, add_web_user

pytestmark = pytest.mark.e2e
NOTICE = {"text": "latihan keamanan (security test)"}


def test_a_cookie_copied_before_logout_is_refused_after_it(
        stack: DevStack, running_controller: Controller) -> None:
    port = stack.layout.web_port
    victim = Browser(port)
    assert victim.login("supervisor", supervisor_password(stack)).status == 200
    stolen = Browser(port, cookies=dict(victim.cookies))
    assert stolen.request("GET", "/api/me").status == 200
    assert victim.request("POST", "/logout").status == 200
    assert victim.request("GET", "/api/me").status == 401
    replay = stolen.request("GET", "/api/me")
    assert replay.status == 401, f"the copied cookie still works after logout: {replay.body}"
    assert stolen.request("GET", "/api/calls").status == 401


def test_a_removed_user_is_logged_out_at_the_next_request(
        stack: DevStack, running_controller: Controller) -> None:
    name, password = new_user(stack)
    desk = Browser(stack.layout.web_port)
    assert desk.login(name, password).status == 200
    assert desk.request("GET", "/api/me").status == 200
    remove_web_user(stack, name)
    reply = desk.request("GET", "/api/me")
    assert reply.status == 401, f"a removed user still has a session: {reply.body}"
    assert Browser(stack.layout.web_port).login(name, password).status == 401


def test_a_demoted_user_loses_the_rights_at_the_next_request(
        stack: DevStack, running_controller: Controller) -> None:
    """The role is edited in the users file by hand (the password hash stays): the session
    stays valid, with the new role."""
    name, password = new_user(stack, role="supervisor")
    desk = Browser(stack.layout.web_port)
    assert desk.login(name, password).status == 200
    assert desk.request("POST", "/api/notices", NOTICE).status == 200
    users_file = stack.layout.run_dir / "users.toml"
    text = users_file.read_text()
    entry = f'[users.{name}]\nrole = "supervisor"\n'
    assert entry in text
    users_file.write_text(text.replace(entry, f'[users.{name}]\nrole = "calltaker"\n'))
    me = desk.request("GET", "/api/me")
    assert me.status == 200 and me.body["role"] == "calltaker", me.body
    refused = desk.request("POST", "/api/notices", NOTICE)
    assert refused.status == 403, f"a demoted user kept supervisor rights: {refused.body}"


def test_a_new_role_set_with_the_cli_applies_at_the_next_request(
        stack: DevStack, running_controller: Controller) -> None:
    """`user add NAME --role calltaker` (which also sets a password): the old session no
    longer carries supervisor rights."""
    name, password = new_user(stack, role="supervisor")
    desk = Browser(stack.layout.web_port)
    assert desk.login(name, password).status == 200
    add_web_user(stack, name, password, role="calltaker")
    reply = desk.request("POST", "/api/notices", NOTICE)
    assert reply.status in {401, 403}, f"the old role still works: {reply.body}"
    again = Browser(stack.layout.web_port)
    assert again.login(name, password).status == 200
    assert again.request("GET", "/api/me").body["role"] == "calltaker"


def test_a_csrf_token_from_one_session_is_refused_in_another(
        stack: DevStack, running_controller: Controller) -> None:
    """Cookie tossing: an attacker who can set a cookie for the site (a sibling host, a
    plain-HTTP page) plants their own CSRF cookie in the victim's browser and sends their
    own token with the victim's session."""
    port = stack.layout.web_port
    attacker, victim = Browser(port), Browser(port)
    name, password = new_user(stack, role="supervisor")
    assert attacker.login(name, password).status == 200
    assert victim.login("supervisor", supervisor_password(stack)).status == 200
    planted = Browser(port, cookies={**victim.cookies, "ntpd_csrf": attacker.cookies.get(
        "ntpd_csrf", "")}, csrf=attacker.csrf)
    reply = planted.request("POST", "/api/notices", NOTICE)
    assert reply.status == 403, f"session A's CSRF token was taken in session B: {reply.body}"
    assert reply.body["error"] == "csrf"
    assert victim.request("POST", "/api/notices", NOTICE).status == 200


def test_session_cookies_are_httponly_strict_and_host_only(
        stack: DevStack, running_controller: Controller) -> None:
    desk = Browser(stack.layout.web_port)
    reply = desk.login("supervisor", supervisor_password(stack))
    session = [c for c in reply.set_cookies if c.startswith("ntpd_session=")]
    assert len(session) == 1, reply.set_cookies
    flags = session[0].lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "domain=" not in flags
    # Over plain HTTP from an untrusted peer, no Secure and no __Host- (the browser would
    # refuse them); X-Forwarded-Proto from anyone but a trusted proxy changes nothing.
    spoofed = Browser(stack.layout.web_port).login(
        "supervisor", supervisor_password(stack), headers={"X-Forwarded-Proto": "https"})
    assert not any(c.startswith("__Host-") for c in spoofed.set_cookies)
