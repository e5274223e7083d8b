"""Config validation: strict keys, types and ranges; exit 78 with the key named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, load_settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]


def run_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "affectd.toml"
    cfg.write_text(text)
    return subprocess.run([sys.executable, "-m", "edge", "check", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[mqtt]\nhots = 'x'\n", "mqtt.hots"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ("[mqtt]\nport = 'eighty'\n", "mqtt.port"),
        ("[mqtt]\nport = 70000\n", "mqtt.port"),
        ("[publish]\ninterval_s = 0\n", "publish.interval_s"),
        ("[mqtt]\nprotocol = '4'\n", "mqtt.protocol"),
        ("[physio]\nenabled = 'yes'\n", "physio.enabled"),
        ("[device]\nid = 'Living Room'\n", "device.id"),
        ("[mqtt]\ntls = true\nca_file = '/nonexistent/ca.pem'\n", "mqtt.ca_file"),
        ("[mqtt]\ncert_file = '/etc/hostname'\n", "mqtt.cert_file"),
        ("[physio]\nbackend = 'e4'\n", "physio.path"),
        ("[physio]\nbackend = 'webcam'\n", "physio.backend"),
        ("[camera]\nenabled = true\nbackend = 'file'\n", "camera.path"),
        ("[camera]\nbackend = 'opencv'\nlopo = true\n", "camera.lopo"),
        ("mqtt = 3\n", "mqtt"),
        ("[mqtt\n", "config"),
        ("[physio]\nbackend = 'ble'\n", "physio.devices"),
        ("[publish]\ninterval_s = nan\n", "publish.interval_s"),
        ("[fusion]\nmax_age_s = inf\n", "fusion.max_age_s"),
        ("[physio]\nbackend = 'ble'\ndevices = ['polar@00:11']\n", "physio.devices[0]"),
        ("[physio]\ndevices = 'eda@E0:DA:00:00:00:01'\n", "physio.devices"),
    ],
)
def test_bad_config_exits_78_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    res = run_check(tmp_path, text)
    assert res.returncode == 78, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"config error: {key}" in lines[0]


def test_missing_config_file_exits_78(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "edge", "check", "--config",
                          str(tmp_path / "missing.toml")], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert res.returncode == 78
    assert "config error: config: file not found" in res.stderr


def test_unreadable_tls_file_exits_78(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("secret")
    key.chmod(0)
    cert = tmp_path / "client.pem"
    cert.write_text("cert")
    import os

    if os.access(key, os.R_OK):  # root reads anything: use a directory, which cannot be read
        key = tmp_path / "keydir"
        key.mkdir()
    res = run_check(tmp_path, f"[mqtt]\ntls = true\ncert_file = '{cert}'\nkey_file = '{key}'\n")
    assert res.returncode == 78
    assert "mqtt.key_file: cannot read" in res.stderr


def test_example_config_is_valid_and_check_lists_devices(tmp_path: Path) -> None:
    text = (ROOT / "affectd.example.toml").read_text().replace(
        '"/var/lib/affectd"', f'"{tmp_path}"')
    res = run_check(tmp_path, text)
    assert res.returncode == 0, res.stderr
    assert "config OK" in res.stdout
    assert "analyzers: ['physio']" in res.stdout
    assert "devices:" in res.stdout


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
    assert s.fusion.face.pool == 0.86  # untouched keys keep their defaults
    said = " ".join(r.getMessage() for r in caplog.records)
    for old in ("physio.source", "physio.ble_backend", "fusion.weight_voice",
                "fusion.temperature_face"):
        assert f"{old} is deprecated" in said
    with pytest.raises(ConfigError, match="physio.source"):
        parse_settings({"physio": {"source": "e4", "backend": "e4"}})


def test_keys_of_another_back_end_are_kept_aside_but_still_type_checked() -> None:
    """Switching `backend` needs no other edit: `path` of the file camera is ignored by
    the opencv one; a wrong type is still an error naming the key."""
    s = parse_settings({"camera": {"backend": "opencv", "path": "/nonexistent.mp4",
                                   "device": "1"}})
    assert s.camera.backend == "opencv" and not hasattr(s.camera, "path")
    with pytest.raises(ConfigError, match=r"^camera.loop: expected a boolean"):
        parse_settings({"camera": {"backend": "opencv", "loop": "yes"}})
