"""A small browser of our own for the web-sessions attack tests: one cookie jar, one
source address (any of 127.0.0.0/8), plain http.client so what is sent is what is read.
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from ntpd_ivr.stack.devstack import DevStack
from tests.stack_fixtures import add_web_user


@dataclass
class Reply:
    status: int
    body: Any
    headers: http.client.HTTPMessage

    @property
    def set_cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


@dataclass
class Browser:
    port: int
    source: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15,
                                          source_address=(self.source, 0))
        sent = {"Accept": "application/json", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if method != "GET" and self.csrf and "X-CSRF-Token" not in sent:
            sent["X-CSRF-Token"] = self.csrf
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Reply(response.status, parsed, response.headers)

    def fetch_csrf(self, headers: dict[str, str] | None = None) -> None:
        reply = self.request("GET", "/api/csrf", headers=headers)
        assert reply.status == 200, reply.body
        self.csrf = reply.body["csrf_token"]

    def login(self, user: str, password: str,
              headers: dict[str, str] | None = None) -> Reply:
        if not self.csrf:
            self.fetch_csrf(headers)
        reply = self.request("POST", "/login", {"user": user, "password": password},
                             headers=headers)
        if reply.status == 200:
            self.csrf = reply.body["csrf_token"]
        return reply


def supervisor_password(stack: DevStack) -> str:
    return stack.secrets["web_supervisor_password"]


def new_user(stack: DevStack, role: str = "supervisor") -> tuple[str, str]:
    """A user of its own for one test, added with the CLI as an operator would."""
    name, password = f"ws-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    add_web_user(stack, name, password, role=role)
    return name, password


def remove_web_user(stack: DevStack, name: str) -> None:
    """`ntpd-ivr user remove`, as an operator would."""
    done = subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "user", "remove", name,
         "--config", str(stack.layout.settings_file)],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def wait_until(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())
