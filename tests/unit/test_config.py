"""Config validation: strict keys, types and ranges; exit 78 with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_settings, parse_settings
from edge.settings import FusionSettings

ROOT = Path(__file__).resolve().parents[2]


def test_settings_are_frozen_and_typed(tmp_path: Path) -> None:
    s = parse_settings({"mqtt": {"port": 1884}, "fusion": {"time_constant_s": 3}})
    assert s.mqtt.port == 1884
    assert isinstance(s.fusion.time_constant_s, float)
    with pytest.raises(AttributeError):
        s.mqtt.port = 1  # type: ignore[misc]


def test_password_from_env_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFFECTD_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match=r"mqtt\.password_env"):
        parse_settings({"mqtt": {"password_env": "AFFECTD_TEST_PW"}})
    cfg = tmp_path / "c.toml"
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    cfg.write_text(f"[mqtt]\nusername = 'u'\npassword_file = '{pw}'\n")
    from edge.config import mqtt_password

    assert mqtt_password(load_settings(cfg)) == "hunter2"


def test_example_documents_every_key() -> None:
    import dataclasses

    from edge.settings import Settings
    from edge.sources import TABLES

    text = (ROOT / "affectd.example.toml").read_text()
    for section in dataclasses.fields(Settings):
        assert f"[{section.name}]" in text
        value = getattr(Settings(), section.name)
        classes = [r.settings for r in TABLES[section.name].rows.values()] \
            if section.name in TABLES else [type(value)]
        for cls in classes:  # every key of every built-in back-end
            for f in dataclasses.fields(cls):
                sub = getattr(value, f.name, None)
                if dataclasses.is_dataclass(sub):  # a table, e.g. [fusion.face]
                    assert f"[{section.name}.{f.name}]" in text
                    continue
                assert f"{f.name} =" in text, f"{section.name}.{f.name} is not documented"


def test_old_key_names_still_work_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """`physio.source`, `physio.ble_backend` and `fusion.weight_face`-style keys are the
    names before the back-end tables: read for one release, each with a warning."""
    import logging

    with caplog.at_level(logging.WARNING, logger="edge.config"):
        s = parse_settings({"physio": {"source": "ble", "ble_backend": "emulated",
                                       "devices": ["polar_h10@A0:9E:1A:00:00:01"]},
                            "fusion": {"weight_voice": 0.5, "temperature_face": 0.9}})
    assert s.physio.backend == "emulated"
    assert s.fusion.voice.weight == 0.5 and s.fusion.face.temperature == 0.9
    assert s.fusion.face.pool == FusionSettings().face.pool  # untouched: the default
    said = " ".join(r.getMessage() for r in caplog.records)
    for old in ("physio.source", "physio.ble_backend", "fusion.weight_voice",
                "fusion.temperature_face"):
        assert f"{old} is deprecated" in said
    with pytest.raises(ConfigError, match=r"physio\.source"):
        parse_settings({"physio": {"source": "e4", "backend": "e4"}})


def test_keys_of_another_back_end_are_kept_aside_but_still_type_checked() -> None:
    """Switching `backend` needs no other edit: `path` of the file camera is ignored by
    the opencv one; a wrong type is still an error naming the key."""
    s = parse_settings({"camera": {"backend": "opencv", "path": "/nonexistent.mp4",
                                   "device": "1"}})
    assert s.camera.backend == "opencv" and not hasattr(s.camera, "path")
    with pytest.raises(ConfigError, match=r"^camera.loop: expected a boolean"):
        parse_settings({"camera": {"backend": "opencv", "loop": "yes"}})



def test_every_problem_of_a_file_is_reported_at_once() -> None:
    """A stranger fixing a config sees all its mistakes in one run, each naming its key
    (the command line prints one line each: tests/integration/test_cli_config.py)."""
    doc = {"mqtt": {"port": "abc", "retian": True}, "face": {"tiles": 7},
           "camera": {"backend": "opencv", "loop": "yes"}, "fusion": {"voice": 3}}
    with pytest.raises(ConfigError) as err:
        parse_settings(doc)
    keys = [line.split(":")[0] for line in err.value.lines]
    # in the order of the settings' sections, unknown keys of a section first
    assert keys == ["mqtt.retian", "mqtt.port", "fusion.voice", "camera.loop", "face.tiles"]
    assert err.value.key == keys[0] and str(err.value).splitlines() == err.value.lines
    with pytest.raises(ConfigError) as one:  # a single problem reads as before
        parse_settings({"face": {"tiles": 7}})
    assert one.value.lines == [str(one.value)]
