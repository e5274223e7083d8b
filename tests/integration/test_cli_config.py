"""`affectd check` on bad configs: one line naming the key per problem, exit status 78
(a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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


def test_every_problem_is_one_line_in_one_run(tmp_path: Path) -> None:
    res = run_check(tmp_path, "[mqtt]\nport = 'abc'\n[face]\ntiles = 7\n")
    assert res.returncode == 78
    assert res.stderr.splitlines() == [
        "affectd: config error: mqtt.port: expected an integer in [1, 65535], got 'abc'",
        "affectd: config error: face.tiles: expected an integer in [0, 2], got 7"]


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
    # the installed service's config fakes nothing: no source is on until the user says so
    assert "analyzers: []" in res.stdout
    assert "devices:" in res.stdout
    assert "warning: no source is enabled" in res.stderr


@pytest.mark.parametrize(("section", "keys", "stands_in"), [
    ("physio", {"enabled": True, "backend": "synthetic"}, "generated data"),
    ("microphone", {"enabled": True, "backend": "file", "path": "edge/assets/demo_speech.flac"},
     "a recording"),
])
def test_check_warns_when_a_source_fakes_a_person(tmp_path: Path, section: str,
                                                  keys: dict, stands_in: str) -> None:
    lines = [f'[device]\nstate_dir = "{tmp_path}"', f"[{section}]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    if section != "physio":
        lines += ["[physio]", "enabled = false"]
    res = run_check(tmp_path, "\n".join(lines).replace(
        '"edge/assets', f'"{ROOT}/edge/assets') + "\n")
    assert res.returncode == 0, res.stderr
    warning = f'warning: {section}.backend = "{keys["backend"]}": the {section} estimates come ' \
              f"from {stands_in}, not from a person"
    assert warning in res.stderr, res.stderr
