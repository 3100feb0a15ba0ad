"""A call-taker in a real browser: log in through the form (and fail first, in Bahasa
Indonesia), switch to English, log out; and a forged form post without its CSRF token."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot


def test_calltaker_logs_in_switches_to_english_and_logs_out(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    page.goto(web.url("/login"))
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_label("Kata sandi")).to_be_visible()
    screenshot(page, request, "1-login")

    failed = log_in(page, web, "ani", password="bukan-sandinya")
    assert failed.status == 401
    expect(page.get_by_role("alert")).to_have_text("Nama pengguna atau kata sandi salah.")
    expect(page.locator("#login-form input[name=user]")).to_have_value("ani")
    screenshot(page, request, "2-login-failed")

    log_in(page, web, "ani")
    assert page.url == web.url("/")
    expect(page.locator(".who")).to_have_text("ani (penerima panggilan)")
    expect(page.get_by_role("heading", name="Panggilan terakhir")).to_be_visible()
    # Usable at 1366x768: nothing runs off the side of the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshot(page, request, "3-home-id")

    page.click("#lang-switch")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.url == web.url("/")
    expect(page.get_by_role("heading", name="Latest calls")).to_be_visible()
    expect(page.locator(".who")).to_have_text("ani (call-taker)")
    screenshot(page, request, "4-home-en")

    page.click("#logout")
    expect(page).to_have_url(web.url("/login"))
    expect(page.get_by_label("Password")).to_be_visible()  # the language choice stays
    page.goto(web.url("/"))
    expect(page).to_have_url(web.url("/login"))  # the session is gone
    screenshot(page, request, "5-logged-out-en")


def test_form_post_without_its_csrf_token_is_refused(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    page.goto(web.url("/login"))
    page.locator("#login-form input[name=csrf_token]").evaluate("input => input.remove()")
    page.fill("#login-form input[name=user]", "ani")
    page.fill("#login-form input[name=password]", web.passwords["ani"])
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#login-form button[type=submit]")
    assert posted.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Token keamanan formulir (CSRF)")
    screenshot(page, request, "csrf-refused")
    assert page.request.get(web.url("/api/me")).status == 401  # not logged in
