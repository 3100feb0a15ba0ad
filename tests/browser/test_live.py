"""A page shows what the hub publishes, as it happens: no reload, no polling, and nothing
fetched from anywhere but the center's own server."""

import pytest
from playwright.sync_api import Page, Request, WebSocket, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot


def test_published_message_appears_without_reload_or_polling(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    fetched: list[Request] = []
    sockets: list[WebSocket] = []
    page.on("request", lambda r: fetched.append(r))
    page.on("websocket", lambda ws: sockets.append(ws))
    errors: list[str] = []  # a script error, or anything the CSP refused to load
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, web, "ani")
    live = page.locator("#live")
    expect(live).to_have_attribute("data-state", "live")  # subscribed over the WebSocket
    expect(live.locator("[data-live-status]")).to_have_text("Tersambung")
    assert all(r.url.startswith(web.base_url + "/") for r in fetched), [r.url for r in fetched]
    assert [ws.url for ws in sockets] == [web.base_url.replace("http:", "ws:") + "/ws"]
    page.evaluate("window.loadedOnce = true")
    requests_before = len(fetched)

    assert web.publish("notices", "notice",
                       {"text": "Banjir di Kecamatan Kota, banyak panggilan", "by": "budi"}) == 1
    message = live.locator("li").first
    expect(message).to_contain_text("budi: Banjir di Kecamatan Kota, banyak panggilan")
    expect(live.locator("[data-live-empty]")).to_be_hidden()
    assert page.evaluate("window.loadedOnce") is True  # the same page, not a reload
    page.wait_for_timeout(300)
    assert len(fetched) == requests_before, [r.url for r in fetched[requests_before:]]
    assert errors == []
    screenshot(page, request, "notice-shown")
