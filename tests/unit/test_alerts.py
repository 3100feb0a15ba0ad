"""CAP alerts: parsing the recorded samples, the reasons a document is refused, matching an
alert's area to the regions, the surge rule, surge mode's end, and CAP out validating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from signxml.exceptions import InvalidSignature

from ntpd_ivr.alerts import cap
from ntpd_ivr.alerts.config import parse_alerts
from ntpd_ivr.alerts.export import campaign_cap
from ntpd_ivr.alerts.model import (
    CapAlert,
    CapArea,
    CapError,
    Circle,
    Place,
    SurgeRule,
    SurgeState,
    announcement,
    distance_km,
    matching_regions,
    parse_circle,
    parse_polygon,
    places,
    surge_mode,
)
from ntpd_ivr.alerts.sign import CapSigner
from ntpd_ivr.configfile import ConfigReader
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.settings import alert_feeds, load_settings
from tests.boundaries import example_with_boundaries
from tests.cap_samples import make_signer

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "cap"
MAX = 1_000_000


def sample(name: str) -> CapAlert:
    return cap.read_alert(cap.parse_xml((SAMPLES / name).read_bytes(), MAX))


def refusal(data: bytes, max_bytes: int = MAX) -> str:
    with pytest.raises(CapError) as caught:
        cap.read_alert(cap.parse_xml(data, max_bytes))
    return str(caught.value)


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> list[Place]:
    config = load_routing_config(example_with_boundaries(tmp_path_factory.mktemp("alerts")))
    return places(config.regions.values(), {})


# ---- parsing -------------------------------------------------------------------------------


def test_the_inatews_sample_reads_with_its_magnitude_and_epicentre() -> None:
    alert = sample("inatews_gempa_m58.xml")
    assert alert.identifier == "Indonesia-InaTEWS-earthquakes-20261207192955"
    assert (alert.language, alert.event, alert.severity, alert.urgency) == (
        "id", "Gempabumi", "Severe", "Immediate")
    assert alert.magnitude == 5.8
    assert alert.epicentre == (-2.71, 103.62)
    assert alert.areas[0].circles == (Circle(-2.71, 103.62, 100.0),)
    assert alert.sent == datetime(2026, 12, 7, 12, 31, 2, tzinfo=UTC)


def test_the_nowcast_sample_reads_its_polygon_and_geocode() -> None:
    alert = sample("nowcast_CSS20261207003_alert.xml")
    area = alert.areas[0]
    assert area.desc == "Kota Palembang"
    assert area.polygons[0][0] == (-2.90, 104.65) and len(area.polygons[0]) == 5
    assert area.geocodes == (("KEMENDAGRI", "16.71"),)
    assert alert.magnitude is None


def test_feeds_list_their_alerts_in_order() -> None:
    rss = cap.parse_xml((SAMPLES / "nowcast_rss.xml").read_bytes(), MAX)
    atom = cap.parse_xml((SAMPLES / "atom_feed.xml").read_bytes(), MAX)
    assert cap.feed_links(rss) == ["nowcast_CSS20261207003_alert.xml",
                                   "nowcast_CPA20261207001_alert.xml"]
    assert cap.feed_links(atom) == ["inatews_gempa_m58.xml"]
    alert = cap.parse_xml((SAMPLES / "inatews_gempa_m58.xml").read_bytes(), MAX)
    assert cap.feed_links(alert) is None


def test_the_magnitude_is_read_from_the_headline_without_a_parameter() -> None:
    alert = CapAlert("x", "s", datetime.now(UTC), "Actual", "Alert", "Public",
                     headline="Gempa Mag:6,1 Lok: 2.1 LS")
    assert alert.magnitude == 6.1
    assert CapAlert("x", "s", datetime.now(UTC), "Actual", "Alert", "Public",
                    headline="Hujan lebat").magnitude is None


# ---- refusals, with their reasons ----------------------------------------------------------


def test_a_schema_invalid_alert_is_refused_naming_the_element() -> None:
    reason = refusal((SAMPLES / "invalid_no_status.xml").read_bytes())
    assert "not valid CAP 1.2" in reason and "cap:status" in reason


def test_entity_expansion_is_refused_before_any_expansion() -> None:
    reason = refusal((SAMPLES / "billion_laughs.xml").read_bytes())
    assert "DTD" in reason


def test_an_external_entity_is_refused() -> None:
    data = (b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&x;</alert>')
    assert "DTD" in refusal(data)


def test_not_xml_too_big_and_the_wrong_root_are_refused() -> None:
    assert "not well-formed" in refusal(b"NOT VALID XML <<<")
    assert "larger than 100 bytes" in refusal(b"<a>" + b"x" * 200 + b"</a>", 100)
    assert "not a CAP 1.2 alert" in refusal(
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>')


def test_a_bad_polygon_or_circle_is_refused() -> None:
    text = (SAMPLES / "nowcast_CSS20261207003_alert.xml").read_text()
    open_ring = text.replace("-3.02,104.65 -2.90,104.65</polygon>", "-3.02,104.65</polygon>")
    assert "first and the last" in refusal(open_ring.encode())
    off_globe = text.replace("-2.90,104.65 -2.90,104.80", "-92.90,104.65 -2.90,104.80", 1)
    assert "off the globe" in refusal(off_globe.encode())
    with pytest.raises(CapError, match="radius"):
        parse_circle("-2.71,103.62 far")
    with pytest.raises(CapError, match="lat,lon"):
        parse_polygon("1 2 3 4")


# ---- matching areas ------------------------------------------------------------------------


def test_the_quake_circle_matches_muba_and_the_province_not_palembang(
        regions: list[Place]) -> None:
    assert matching_regions(sample("inatews_gempa_m58.xml"), regions) == ("sumsel", "muba")


def test_the_nowcast_polygon_matches_palembang_and_the_province(regions: list[Place]) -> None:
    assert set(matching_regions(sample("nowcast_CSS20261207003_alert.xml"), regions)) == {
        "sumsel", "palembang"}


def test_an_alert_far_away_matches_nothing(regions: list[Place]) -> None:
    assert matching_regions(sample("nowcast_CPA20261207001_alert.xml"), regions) == ()


def test_a_geocode_matches_by_kemendagri_code_alone() -> None:
    plain = [Place("muba", "16.06"), Place("palembang", "16.71"), Place("other")]
    def alert(*codes: str) -> CapAlert:
        return CapAlert("x", "s", datetime.now(UTC), "Actual", "Alert", "Public", areas=(
            CapArea("a", geocodes=tuple(("KEMENDAGRI", c) for c in codes)),))
    assert matching_regions(alert("16.06.01"), plain) == ("muba",)
    assert matching_regions(alert("16"), plain) == ("muba", "palembang")
    assert matching_regions(alert("16.061"), plain) == ()


def test_without_a_boundary_the_centre_point_decides() -> None:
    muba = [Place("muba", centre=(-2.88, 103.85))]
    near = CapAlert("x", "s", datetime.now(UTC), "Actual", "Alert", "Public",
                    areas=(CapArea("c", circles=(Circle(-2.71, 103.62, 40.0),)),))
    far = CapAlert("x", "s", datetime.now(UTC), "Actual", "Alert", "Public",
                   areas=(CapArea("c", circles=(Circle(-2.71, 103.62, 20.0),)),))
    assert matching_regions(near, muba) == ("muba",)
    assert matching_regions(far, muba) == ()
    assert 30 < distance_km((-2.71, 103.62), (-2.88, 103.85)) < 35


# ---- surge mode ----------------------------------------------------------------------------


def test_the_rule_fires_for_a_strong_near_quake_only(regions: list[Place]) -> None:
    quake = sample("inatews_gempa_m58.xml")
    assert SurgeRule(auto=True).fires(quake, regions) == "sumsel"
    assert SurgeRule(auto=False).fires(quake, regions) is None
    assert SurgeRule(auto=True, min_magnitude=6.0).fires(quake, regions) is None
    assert SurgeRule(auto=True, within_km=10).fires(quake, regions) is None
    assert SurgeRule(auto=True).fires(sample("nowcast_CSS20261207003_alert.xml"),
                                      regions) is None


def test_surge_mode_ends_by_itself_unless_renewed() -> None:
    quake = sample("inatews_gempa_m58.xml")
    state, t0 = SurgeState(), datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    mode, what = state.turn_on(7, quake, now=t0, minutes=30, actor="spv")
    assert what == "on" and mode.ends_at == t0 + timedelta(minutes=30)
    assert state.current(t0 + timedelta(minutes=29)) is mode
    renewed, what = state.turn_on(7, quake, now=t0 + timedelta(minutes=20), minutes=30,
                                  actor="spv")
    assert what == "renewed" and renewed.started_at == t0
    assert state.current(t0 + timedelta(minutes=49)) is renewed
    assert state.current(t0 + timedelta(minutes=50)) is None
    assert [w for _, w, _ in state.history] == ["on", "renewed", "expired"]


def test_surge_state_takes_what_another_controller_wrote() -> None:
    quake = sample("inatews_gempa_m58.xml")
    state, t0 = SurgeState(), datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    shared = surge_mode(7, quake, started_at=t0, ends_at=t0 + timedelta(minutes=30),
                        started_by="spv-a", region="muba")
    assert state.become(shared, now=t0, actor="spv-a") == "on"
    assert state.become(shared, now=t0, actor="spv-a") is None  # nothing new
    longer = surge_mode(7, quake, started_at=t0, ends_at=t0 + timedelta(minutes=40),
                        started_by="spv-b", region="muba")
    assert state.become(longer, now=t0, actor="spv-b") == "renewed"
    assert state.current(t0) is longer
    assert state.become(None, now=t0, actor="spv-a") == "off"
    assert state.become(None, now=t0, actor="spv-a") is None
    # A row whose time has already run out is off, not on.
    assert state.become(shared, now=t0 + timedelta(minutes=31), actor="spv-a") is None
    assert state.current(t0 + timedelta(minutes=31)) is None


def test_the_announcement_is_in_bahasa_indonesia_from_the_alert() -> None:
    text = announcement(sample("inatews_gempa_m58.xml"))
    assert text.startswith("BMKG: gempa M5,8, di 18 km BaratLaut MUSIBANYUASIN-SUMSEL, "
                           "kedalaman 10 km, tidak berpotensi tsunami. Jika Anda menelepon "
                           "tentang gempa ini")
    assert "tekan 8 untuk informasi" in text and "tetap di saluran" in text


# ---- the routing config's [alerts] -----------------------------------------------------


def test_the_alerts_section_is_read_and_bad_values_name_the_key() -> None:
    def read(table: dict[str, object]) -> object:
        return parse_alerts(ConfigReader("r.toml", table, "alerts"), ["muba"])
    config = read({"auto_surge": True, "within_km": 50, "centres": {"muba": [-2.88, 103.85]}})
    assert config.rule.auto and config.rule.within_km == 50.0  # type: ignore[attr-defined]
    assert config.centres == {"muba": (-2.88, 103.85)}  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"r.toml: alerts.centres.nowhere: no region"):
        read({"centres": {"nowhere": [0, 0]}})
    with pytest.raises(ConfigError, match=r"alerts.centres.muba: expected \[lat, lon\]"):
        read({"centres": {"muba": [-99, 0]}})
    with pytest.raises(ConfigError, match=r"alerts.min_magnitude"):
        read({"min_magnitude": 0.0})
    with pytest.raises(ConfigError, match=r"alerts.surprise: unknown key"):
        read({"surprise": 1})


# ---- CAP out ---------------------------------------------------------------------------


def test_a_campaign_exports_as_cap_that_validates(regions: list[Place]) -> None:
    muba = next(p for p in regions if p.key == "muba")
    row = {"id": 12, "title": "Banjir: mengungsi", "message_text": "Air naik, segera ke tempat "
           "tinggi & ikuti petugas.", "target": {"kecamatan": ["Sekayu"], "desa": []},
           "status": "awaiting-approval", "created_at": datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
           "approved_at": None}
    body = campaign_cap(row, sender="ntpd112@muba.go.id", sender_name="NTPD 112 Muba",
                        region_name="Musi Banyuasin", boundary=muba.boundary)
    root = cap.parse_xml(body, MAX)
    assert cap.validation_error(root) is None
    alert = cap.read_alert(root)
    assert (alert.status, alert.identifier) == ("Draft", "ntpd112@muba.go.id-warning-12")
    assert alert.sent == row["created_at"]
    assert alert.areas[0].desc == "Kecamatan Sekayu" and alert.areas[0].polygons
    approved = campaign_cap({**row, "status": "running", "target": {},
                             "approved_at": datetime(2026, 12, 7, 13, 0, tzinfo=UTC)},
                            sender="ntpd112@muba.go.id", sender_name="NTPD 112",
                            region_name="Musi Banyuasin", boundary=muba.boundary)
    again = cap.read_alert(cap.parse_xml(approved, MAX))
    assert again.status == "Actual" and again.areas[0].desc == "Musi Banyuasin"
    assert again.description.endswith("ikuti petugas.")
    # With a regional message: one info per language, over the same areas; still valid.
    both = cap.parse_xml(campaign_cap(
        {**row, "regional_language": "plm", "message_text_regional": "Banyu naek, ke tempat "
         "tinggi."}, sender="ntpd112@muba.go.id", sender_name="NTPD 112",
        region_name="Musi Banyuasin", boundary=muba.boundary), MAX)
    assert cap.validation_error(both) is None
    infos = both.findall(f"{{{cap.NS}}}info")
    assert [i.findtext(f"{{{cap.NS}}}language") for i in infos] == ["id-ID", "plm"]
    assert infos[1].findtext(f"{{{cap.NS}}}description") == "Banyu naek, ke tempat tinggi."
    assert [len(i.findall(f"{{{cap.NS}}}area")) for i in infos] == [1, 1]


def test_a_signed_export_still_validates_and_its_signature_verifies(tmp_path: Path) -> None:
    signer = make_signer(tmp_path)
    row = {"id": 3, "title": "Tsunami: menjauh dari pantai", "message_text": "Segera ke "
           "tempat tinggi.", "target": {}, "status": "running",
           "created_at": datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
           "approved_at": datetime(2026, 12, 7, 12, 5, tzinfo=UTC)}
    signed = signer.sign(campaign_cap(row, sender="ntpd112@muba.go.id", sender_name="NTPD",
                                      region_name="Musi Banyuasin", boundary=None))
    root = cap.parse_xml(signed, MAX)
    assert root[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert cap.validation_error(root) is None
    signer.verify(signed)
    tampered = signed.replace(b"Segera ke tempat tinggi.", b"Tetap di rumah.")
    with pytest.raises(InvalidSignature):
        signer.verify(tampered)
    assert CapSigner.from_files("", "") is None


def test_the_alerts_settings_name_the_key_at_fault(tmp_path: Path) -> None:
    base = {"ami": {"secret": "x"}, "database": {"url": "postgresql+asyncpg://u@h/db"}}
    def load(alerts: dict[str, object]) -> object:
        return load_settings(None, environ={}, overrides={**base, "alerts": alerts})
    assert alert_feeds(load({"feeds": " http://127.0.0.1:1/a.xml , https://b/c "}
                            ).alerts) == (  # type: ignore[attr-defined]
        "http://127.0.0.1:1/a.xml", "https://b/c")
    with pytest.raises(ConfigError, match=r"alerts.feeds: 'file:///etc/x' is not an http"):
        load({"feeds": "file:///etc/x"})
    with pytest.raises(ConfigError, match="signing_cert_file go together"):
        load({"signing_key_file": str(tmp_path / "key.pem")})
    with pytest.raises(ConfigError, match="is not a file"):
        load({"signing_key_file": str(tmp_path / "no"), "signing_cert_file": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"alerts\.sender: CAP forbids"):
        load({"sender": "ntpd 112"})
