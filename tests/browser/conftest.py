"""Browser tests: Debian's Chromium, driven by Playwright, against the real controller's
web app.

- One Chromium for all browser tests, started from /usr/bin/chromium (never a browser
  that a test tool downloaded) with a fresh profile directory; each test gets its own
  browser context (cookies, storage), sized 1366x768 as the centers' desk screens.
- The web app is the controller's own: `Service` built from a settings file, users added
  with `ntpd-ivr user add` (passwords generated here), the page data read from a real
  PostgreSQL (the session's, tests/conftest.py). Asterisk is not started: these tests are
  about the screens' foundation, not calls. Tests that need live calls use the stack of
  tests/e2e/conftest.py and the controller it runs.
- The app runs on its own event loop in a thread, because Playwright's sync API may not
  run inside an asyncio loop; `RunningWeb.publish` hands events to that loop.
- Each test keeps screenshots under build/test-artifacts/browser/ (and one at the moment
  of failure), the pages a reviewer can look at without running anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect, sync_playwright

from ntpd_ivr.ami.events import AgentConnect
from ntpd_ivr.app import Service
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.chromium import CHROMIUM, CHROMIUM_ARGS
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.stack.sipp import SippResult, place_call
from tests.conftest import RunningPostgres
from tests.stack_fixtures import add_web_user

T = TypeVar("T")
VIEWPORT = {"width": 1366, "height": 768}
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "browser"
ROUTING_EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
STEP_MS = 5000  # how long a page may take to show what a step expects


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """Package scope: one browser for every browser test, closed before the other test
    folders run, so Playwright's own event loop never overlaps pytest-asyncio's."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium")
    with sync_playwright() as playwright, \
            tempfile.TemporaryDirectory(prefix="ntpd-ivr-chromium-") as profile:
        root = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            assert root.browser is not None
            yield root.browser
        finally:
            root.close()


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport=VIEWPORT, locale="id-ID")  # type: ignore[arg-type]
    ctx.set_default_timeout(STEP_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def agency_page(chromium: Browser) -> Iterator[Page]:
    """A second person's browser (an agency's): its own context, cookies and session."""
    ctx = chromium.new_context(viewport=VIEWPORT, locale="id-ID")  # type: ignore[arg-type]
    ctx.set_default_timeout(STEP_MS)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = context.new_page()
    yield page
    if request.node.stash.get(FAILED, False):
        screenshot(page, request, "at-failure")


def screenshot(page: Page, request: pytest.FixtureRequest, step: str) -> Path:
    """Keep what the page shows now as build/test-artifacts/browser/<test>--<step>.png."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    path = ARTIFACTS / f"{name}--{step}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


@dataclass(frozen=True)
class RunningWeb:
    base_url: str
    passwords: Mapping[str, str]
    service: Service
    loop: asyncio.AbstractEventLoop

    def url(self, path: str) -> str:
        return self.base_url + path

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """A coroutine on the app's own loop (a service call, as the controller makes it)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=10)

    def answered(self, uniqueid: str, endpoint: str) -> None:
        """The AgentConnect that AMI sends when `endpoint`'s phone answers the call, handed
        to the workspace as the controller's AMI consumer does: whose call it is (a
        call-taker acts only on the calls their own phone answered)."""
        event = AgentConnect(name="AgentConnect", received_at=time.time(), uniqueid=uniqueid,
                             queue="takers-palembang", interface=f"PJSIP/{endpoint}",
                             member_name=endpoint, hold_time=0, ring_time=1,
                             dest_uniqueid=uniqueid + "-member")

        async def deliver() -> None:
            self.service.workspace.on_event(event)
        asyncio.run_coroutine_threadsafe(deliver(), self.loop).result(timeout=5)

    def publish(self, topic: str, kind: str, data: Mapping[str, Any]) -> int:
        """`LiveHub.publish` on the app's own loop, as the controller would call it."""
        async def publish() -> int:
            return self.service.hub.publish(topic, kind, data)
        return asyncio.run_coroutine_threadsafe(publish(), self.loop).result(timeout=5)


def add_user(settings_file: Path, name: str, role: str, *options: str) -> str:
    """`ntpd-ivr user add`, as an operator runs it; returns the generated password."""
    password = secrets.token_urlsafe(16)
    done = subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "user", "add", name, "--role", role, *options,
         "--config", str(settings_file), "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return password


@pytest.fixture(scope="package")
def web(postgres: RunningPostgres, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningWeb]:
    run_dir = tmp_path_factory.mktemp("browser-web")
    port = free_port()
    settings_file = run_dir / "ntpd-ivr.toml"
    settings_file.write_text(
        f'[web]\nhost = "127.0.0.1"\nport = {port}\n'
        f'users_file = "{run_dir / "users.toml"}"\n'
        f'session_secret = "{secrets.token_urlsafe(32)}"\n'
        f'[database]\nurl = "{postgres.url}"\n'
        f'[ami]\nsecret = "{secrets.token_urlsafe(16)}"\n'  # required; AMI is not started
        f'[records]\nspool_dir = "{run_dir / "spool"}"\n'
        f'[ivr]\nrouting_config = "{ROUTING_EXAMPLE}"\n', encoding="utf-8")
    passwords = {"ani": add_user(settings_file, "ani", "calltaker"),
                 # a call-taker whose phone is taker-1: the desk's calls are theirs
                 "eka": add_user(settings_file, "eka", "calltaker", "--sip-endpoint",
                                 "taker-1"),
                 "budi": add_user(settings_file, "budi", "supervisor"),
                 "damkar": add_user(settings_file, "damkar", "agency",
                                    "--agency", "palembang-damkar")}
    settings = load_settings(settings_file, environ={})

    started = threading.Event()
    failure: list[BaseException] = []
    handles: dict[str, Any] = {}

    async def serve() -> None:
        service = Service(settings)
        stop = asyncio.Event()
        handles.update(service=service, loop=asyncio.get_running_loop(), stop=stop)
        try:
            await service.start_web()
            started.set()
            await stop.wait()
        finally:
            await service.web_runner.cleanup()
            await service.engine.dispose()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # handed to the test thread below
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=run, name="web-under-test", daemon=True)
    thread.start()
    assert started.wait(30), "the web app did not start in 30 s"
    if failure:
        raise failure[0]
    try:
        yield RunningWeb(f"http://127.0.0.1:{port}", passwords, handles["service"],
                         handles["loop"])
    finally:
        handles["loop"].call_soon_threadsafe(handles["stop"].set)
        thread.join(timeout=30)
        if failure:
            raise failure[0]


def log_in(page: Page, web: RunningWeb, user: str, password: str | None = None) -> Response:
    """Through the real login form, as a person would; returns the form post's answer."""
    page.goto(web.url("/login"))
    page.fill("#login-form input[name=user]", user)
    page.fill("#login-form input[name=password]",
              web.passwords[user] if password is None else password)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url == web.url("/login")) as posted:
        page.click("#login-form button[type=submit]")
    page.wait_for_load_state()
    return posted.value


@contextlib.contextmanager
def only_this_taker_rings(stack: DevStack, endpoint: str | None) -> Iterator[None]:
    """Every other queue member paused and `endpoint` unpaused, so that the queues ring
    `endpoint` (None: nobody); everyone unpaused after (a wrap-up pause left by a test
    included: one that began after an earlier test's exit unpaused everyone would keep
    `endpoint` from ringing, as in the two-center transfer test's CI failure). No pause reason:
    Asterisk's CLI takes `reason R` only after `queue Q`, and answers `queue pause member
    X reason R` with its usage text, pausing nobody; the queue's round robin then rang
    whoever was next (why the screen-pop test failed after tests/e2e/test_workspace.py)."""
    assert stack.asterisk is not None
    members = set(re.findall(r"\((PJSIP/[\w.-]+)", stack.asterisk.cli("queue show")))
    ringing = {f"PJSIP/{endpoint}"} & members
    others = members - ringing
    for interface in others:
        stack.asterisk.cli(f"queue pause member {interface}")
    for interface in ringing:  # a wrap-up pause an earlier test's call left on it
        stack.asterisk.cli(f"queue unpause member {interface}")
    shown = stack.asterisk.cli("queue show")

    def paused(interface: str) -> list[bool]:
        """Whether `interface` is paused, in each queue `queue show` lists it in."""
        return ["paused" in line for line in shown.splitlines() if f"({interface})" in line]

    for interface in others:
        assert paused(interface) and all(paused(interface)), shown
    for interface in ringing:
        assert paused(interface) and not any(paused(interface)), shown
    try:
        yield
    finally:
        for interface in members:
            stack.asterisk.cli(f"queue unpause member {interface}")


def form_login(page: Page, base: str, user: str, password: str) -> None:
    """Through the login form of the server at `base`, as a person would."""
    page.goto(base + "/login")
    page.fill("#login-form input[name=user]", user)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()


def desk_and_agency_users(stack: DevStack, controller: Any, desk: str, agency_user: str,
                          password: str, agency: str, endpoint: str = "taker-1") -> str:
    """A call-taker tied to `endpoint` and a user of `agency`, added to the stack's users
    file while the controller runs (tests/stack_fixtures.py Controller, started if an
    earlier test stopped it): it reads the file again when it changed, at the next login
    and the next screen pop (UserStore.refresh), so no restart. The web app's base URL."""
    add_web_user(stack, desk, password, sip_endpoint=endpoint)
    add_web_user(stack, agency_user, password, role="agency", agency=agency)
    controller.ensure_running()
    return f"http://127.0.0.1:{stack.layout.web_port}"


def desk_login(page: Page, base: str, user: str, password: str) -> None:
    """A call-taker through the login form, then on their desk, subscribed live."""
    form_login(page, base, user, password)
    page.goto(base + "/workspace")
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")


@contextlib.contextmanager
def calling(stack: DevStack, caller: str) -> Iterator[None]:
    """A real SIPp 112 call from `caller` (pressing 1) while the block runs, in a thread
    (Playwright's sync API holds this one); after the block, the call must have gone well."""
    results: list[SippResult] = []
    call = threading.Thread(target=lambda: results.append(place_call(
        f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1", caller=caller,
        digit_delay_ms=1200, timeout=60)))
    call.start()
    try:
        yield
    finally:
        call.join(timeout=70)
    assert results and results[0].ok, results[0].output[-2000:] if results else "no result"
