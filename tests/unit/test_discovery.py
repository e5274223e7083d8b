"""Home Assistant discovery over a device's life (edge/publish/discovery.py): stubs for
removed components, old configs cleared, unique ids stable across profiles, templates
that cope with empty fields, and every payload through the allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import parse_settings
from edge.profiles import profile_class, profile_names
from edge.publish.discovery import Announced, DiscoveryRecord, announced, plan, with_stubs
from edge.publish.gate import PayloadGate
from edge.publish.payloads import Topics, discovery_payload


def payload_of(profile: str, tmp_path: Path, **mqtt: object) -> tuple[dict, Topics]:
    s = parse_settings({"device": {"id": "door", "state_dir": str(tmp_path)},
                        "publish": {"profile": profile}, "mqtt": dict(mqtt)})
    topics = Topics.from_settings(s)
    return discovery_payload(s, topics, profile_class(profile)), topics


def test_profile_change_sends_stubs_for_every_removed_component(tmp_path: Path) -> None:
    full, topics = payload_of("full", tmp_path)
    kiosk, _ = payload_of("kiosk", tmp_path)
    before = announced(topics.base, topics.discovery, full)
    now = announced(topics.base, topics.discovery, kiosk)
    todo = plan(before, now)
    assert todo.clear == ()
    assert todo.stubs == {k: "sensor" for k in ("valence", "arousal", "stress", "confidence",
                                                 "emotion")}
    sent = with_stubs(kiosk, todo.stubs)
    assert sent["cmps"]["valence"] == {"p": "sensor"}
    PayloadGate().check("discovery", sent)
    assert announced(topics.base, topics.discovery, sent) == now  # stubs are not recorded


def test_id_change_and_discovery_off_clear_the_old_retained_topics(tmp_path: Path) -> None:
    old = Announced("affectd/door", "homeassistant/device/affectd_door/config", {"x": "sensor"})
    renamed = Announced("affectd/porch", "homeassistant/device/affectd_porch/config", {})
    assert plan(old, renamed).clear == ("homeassistant/device/affectd_door/config",
                                        "affectd/door/availability", "affectd/door/privacy/state")
    off = Announced("affectd/door", None, {})
    assert plan(old, off).clear == ("homeassistant/device/affectd_door/config",)
    assert plan(off, off).clear == () and plan(None, renamed).clear == ()


def test_record_round_trip_and_unreadable_record(tmp_path: Path) -> None:
    rec = DiscoveryRecord(tmp_path)
    a = Announced("affectd/door", "homeassistant/device/affectd_door/config", {"v": "sensor"})
    rec.save(a)
    assert rec.load() == a
    rec.path.write_text("{not json")
    assert rec.load() is None
    rec.path.write_text('{"base": 3}')
    assert rec.load() is None


def test_unique_ids_are_the_component_keys_in_every_profile(tmp_path: Path) -> None:
    """The same key means the same quantity and the same unique id in every profile."""
    seen: dict[str, str] = {}
    for name in profile_names():
        payload, _ = payload_of(name, tmp_path)
        for key, comp in payload["cmps"].items():
            uid = comp["uniq_id"]
            assert seen.setdefault(key, uid) == uid, (name, key)
            if key != "privacy":
                assert uid.endswith(f"_{key}") or key in ("hr", "rmssd", "breathing"), uid
        for comp in payload["cmps"].values():
            if comp.get("dev_cla") == "enum" or "emotion" in comp["uniq_id"]:
                assert comp["dev_cla"] == "enum" and "none" in comp["ops"]


def test_fleet_prefix_puts_the_site_in_ids_and_adds_the_bridge_availability(
        tmp_path: Path) -> None:
    payload, topics = payload_of("full", tmp_path, topic_prefix="affectd/site1",
                                 bridge_state_topic="affectd/site1/bridge/connected")
    assert topics.discovery == "homeassistant/device/affectd_site1_door/config"
    assert payload["dev"]["ids"] == ["affectd_site1_door"]
    assert payload["cmps"]["valence"]["uniq_id"] == "affectd_site1_door_valence"
    assert payload["avty_mode"] == "all" and "avty_t" not in payload
    assert payload["o"]["url"].startswith("https://")
    PayloadGate().check("discovery", payload)
    default, _ = payload_of("full", tmp_path)
    assert default["dev"]["ids"] == ["affectd_door"] and "avty" not in default


@pytest.mark.parametrize("stats,want", [
    ({"paused": True, "stages": {"face": {}}}, "paused"),
    ({"paused": False, "stages": {"face": {}, "camera:file": {}, "voice": {}}}, "face, voice"),
    ({"paused": False, "stages": {}}, "none"),
    ({}, "none"),
])
def test_sensing_template_says_paused_and_copes_with_empty_stats(stats: dict, want: str) -> None:
    jinja2 = pytest.importorskip("jinja2")
    from edge.publish.payloads import SENSING_TEMPLATE

    assert jinja2.Template(SENSING_TEMPLATE).render(value_json=stats).strip() == want


@pytest.mark.parametrize("audience,want", [
    ({"emotions": {"happy": 3, "sad": 1}}, "happy"), ({"emotions": {}}, "none"), ({}, "none")])
def test_audience_emotion_template_copes_with_empty_counts(
        tmp_path: Path, audience: dict, want: str) -> None:
    jinja2 = pytest.importorskip("jinja2")
    payload, _ = payload_of("kiosk", tmp_path)
    tpl = payload["cmps"]["top_emotion"]["val_tpl"]
    assert jinja2.Template(tpl).render(value_json=audience).strip() == want


def test_record_that_could_not_be_saved_is_retried(tmp_path: Path) -> None:
    blocked = tmp_path / "state"
    blocked.write_text("a file where the state directory should be")
    rec = DiscoveryRecord(blocked)
    a = Announced("affectd/door", "homeassistant/device/affectd_door/config", {"v": "sensor"})
    rec.save(a)
    assert rec.fault is not None and rec.fault.startswith("state_dir not writable")
    blocked.unlink()  # room again: the next retry saves it and the fault clears
    rec.retry()
    assert rec.fault is None and rec.load() == a
