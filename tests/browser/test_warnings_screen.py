"""A supervisor on the warnings page: creates a campaign with the form, cannot approve it
herself, sees it start when a second supervisor approves (pushed, not polled), cancels it,
and can download its CSV report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.campaigns import model, store
from tests.browser.conftest import RunningWeb, log_in, screenshot

CSV = ("name,number,role,kecamatan,desa,language\n"
       "Kades Balai Agung,081277700001,kepala-desa,Sekayu-Layar,Balai Agung,id\n"
       "Kades Kayuara,081277700002,kepala-desa,Sekayu-Layar,Kayuara,id\n")


def test_create_second_supervisor_approves_cancel(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    warnings = web.service.warnings
    # Messages go to a folder of this test, not the production default.
    warnings.settings = dataclasses.replace(warnings.settings, media_dir=str(tmp_path),
                                            caller_id="+62711112")
    web.run(store.import_contacts(web.service.engine, model.parse_contacts_csv(CSV), "adi"))

    log_in(page, web, "budi")
    page.goto(web.url("/warnings"))
    expect(page.locator("h1")).to_have_text("Peringatan dini masyarakat")
    form = page.locator("#new-campaign")
    form.locator("input[name=title]").fill("Banjir Sekayu Layar")
    form.locator("textarea[name=message_text]").fill("Peringatan dini banjir di Sekayu.")
    form.locator("input[name=kecamatan]").fill("Sekayu-Layar")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.url == web.url("/warnings"), page.content()[:3000]
    row = page.locator("tr[id^=campaign-]", has_text="Banjir Sekayu Layar")
    expect(row).to_have_attribute("data-status", "awaiting-approval")
    expect(row.locator(".status")).to_have_text("menunggu persetujuan")
    expect(row.locator(".progress")).to_contain_text("dari 2 kontak")
    expect(row.locator("button[data-action=approve]")).to_have_count(0)  # not her own
    screenshot(page, request, "1-created")

    # A second supervisor approves (the CLI or another screen): this page follows.
    expect(page.locator("#warnings")).to_have_attribute("data-live", "live")
    campaign_id = int((row.get_attribute("id") or "").removeprefix("campaign-"))
    web.run(store.approve(web.service.engine, campaign_id, "sari"))
    web.run(warnings.approved(campaign_id))
    row = page.locator(f"#campaign-{campaign_id}")
    expect(row).to_have_attribute("data-status", "running", timeout=10_000)
    expect(row).to_contain_text("budi / sari")
    screenshot(page, request, "2-approved")

    row.locator("button[data-action=cancel]").click()
    page.wait_for_load_state()
    row = page.locator(f"#campaign-{campaign_id}")
    expect(row).to_have_attribute("data-status", "cancelled")
    expect(row.locator("button")).to_have_count(0)
    screenshot(page, request, "3-cancelled")

    with page.expect_download() as download:
        row.locator("a", has_text="Laporan CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "contact_id,name,number,outcome,attempts,confirmed_at"
    assert sorted(line.split(",")[2] for line in lines[1:]) == ["+6281277700001",
                                                                 "+6281277700002"]
