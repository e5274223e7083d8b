"""Security properties of the running daemon: it opens no listening socket, and it
authenticates with a password read from a file against a broker that enforces the
ACL example in docs/mosquitto (only its own prefix)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge.lab.broker import MosquittoBroker, free_port, wait_port
from tests.conftest import DaemonProcess, Recorder, write_config

ROOT = Path(__file__).resolve().parents[2]


def listening_inodes() -> set[str]:
    """Socket inodes in LISTEN state (TCP/TCP6) or accepting (unix stream listeners)."""
    out: set[str] = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A":  # TCP_LISTEN
                out.add(parts[9])
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "00010000":  # __SO_ACCEPTCON: a listening unix socket
            out.add(parts[6])
    return out


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def test_daemon_opens_no_listening_socket(broker: MosquittoBroker, recorder: Recorder,
                                          tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state")
    d = DaemonProcess(cfg)
    try:
        recorder.wait_for("affectd/test/state", 3)
        mine = socket_inodes(d.proc.pid)
        assert mine, "the daemon should at least hold its MQTT connection"
        assert mine & listening_inodes() == set()
    finally:
        d.stop()


def test_password_file_and_acl_limit_the_device_to_its_prefix(tmp_path: Path) -> None:
    if not MosquittoBroker.available() or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed")
    port = free_port()
    b = MosquittoBroker(port)
    w = b.workdir
    shutil.copy(ROOT / "docs" / "mosquitto" / "acl.example", w / "acl")
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(w / "passwd"), "kitchen", "s3cret"],
                   check=True, capture_output=True)
    subprocess.run(["mosquitto_passwd", "-b", str(w / "passwd"), "homeassistant", "ha-pw"],
                   check=True, capture_output=True)
    for f in ("acl", "passwd"):
        (w / f).chmod(0o644)
    b.extra_conf = (f"allow_anonymous false\npassword_file {w}/passwd\nacl_file {w}/acl\n")
    b.start()
    try:
        assert wait_port(port)
        pw = tmp_path / "mqtt-password"
        pw.write_text("s3cret\n")
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        got: list[str] = []
        ha = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ha")
        ha.username_pw_set("homeassistant", "ha-pw")
        ha.on_message = lambda _c, _u, m: got.append(m.topic)
        ha.connect("127.0.0.1", port)
        ha.subscribe("#")
        ha.loop_start()
        cfg = write_config(tmp_path / "a.toml", port, tmp_path / "state",
                           device={"id": "kitchen"},
                           mqtt={"username": "kitchen", "password_file": str(pw)})
        d = DaemonProcess(cfg)
        deadline = time.monotonic() + 20
        while "affectd/kitchen/state" not in got and time.monotonic() < deadline:
            time.sleep(0.1)
        # the same credentials may not publish under another device's prefix
        rogue = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rogue")
        rogue.username_pw_set("kitchen", "s3cret")
        rogue.connect("127.0.0.1", port)
        rogue.loop_start()
        rogue.publish("affectd/livingroom/state", "{}", qos=1).wait_for_publish(5)
        time.sleep(0.5)
        rogue.loop_stop()
        code, _, err = d.stop()
        ha.loop_stop()
    finally:
        b.close()
    assert code == 0, err
    assert "affectd/kitchen/state" in got
    assert "homeassistant/device/affectd_kitchen/config" in got
    assert "affectd/livingroom/state" not in got
