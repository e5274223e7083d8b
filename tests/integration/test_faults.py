"""Fault injection on the whole daemon (`python -m edge run` as a child process, a real
Mosquitto): the broker killed and restarted again and again, the camera and the
microphone disappearing and coming back, a full state directory, and SIGTERM in
every phase of the daemon's life. After each fault the daemon keeps publishing
what it still can, names the fault in `stats`, and recovers by itself.

(The stalled analyzer and the watchdog are in test_systemd.py, a TLS broker with
the wrong CA in test_mqtt_tls.py, a wearable dropping its link in test_ble.py.)
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.publish as mqtt_publish
import pytest
import soundfile as sf

from edge.lab.broker import MosquittoBroker
from edge.lab.demo import demo_speech
from tests.conftest import ROOT, DaemonProcess, Recorder, alsa_home, write_config

BASE = "affectd/test"
FAST_RESTART = {"restart_min_s": 0.2, "restart_max_s": 1.0, "log_level": "warning"}


def state_after(rec: Recorder, t: float, pred: Any = None, timeout: float = 20.0) -> Any:
    """The first `state` published after wall time `t` (that satisfies `pred`)."""
    got = rec.wait_for(f"{BASE}/state", timeout=timeout,
                       pred=lambda m: m.json()["ts"] > t and (pred is None or pred(m.json())))
    return got[0].json()


def stats_after(rec: Recorder, t: float, pred: Any = None, timeout: float = 20.0) -> Any:
    try:
        got = rec.wait_for(f"{BASE}/stats", timeout=timeout, pred=lambda m: m.json()["ts"] > t
                           and (pred is None or pred(m.json())))
    except AssertionError as exc:
        last = rec.on(f"{BASE}/stats")
        raise AssertionError(f"{exc}; last stats: {last[-1].payload[:3000]!r}" if last
                             else str(exc)) from None
    return got[0].json()


def present(modality: str) -> Any:
    return lambda s: s["modalities"][modality]["present"]


def test_broker_killed_and_restarted_repeatedly(tmp_path: Path) -> None:
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed (script/test installs it)")
    with MosquittoBroker() as b:
        rec = Recorder(b.port)
        cfg = write_config(tmp_path / "a.toml", b.port, tmp_path / "state",
                           mqtt={"reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
                           publish={"interval_s": 0.2, "stats_interval_s": 1.0})
        d = DaemonProcess(cfg)
        try:
            rec.wait_for(f"{BASE}/state", 3)
            for _ in range(4):
                b.stop()
                time.sleep(2.0)
                t_up = time.time()
                b.start()
                # back by itself within the reconnect bound, publishing fresh states
                s = state_after(rec, t_up + 0.5, timeout=15)
                assert s["modalities"]["physio"]["present"]
                assert d.proc.poll() is None
            stats = stats_after(rec, time.time(), timeout=10)
        finally:
            code, _, err = d.stop()
            rec.close()
    assert code == 0, err
    assert stats["mqtt"]["reconnects"] >= 4, stats["mqtt"]
    assert stats["mqtt"]["dropped"] >= 0 and stats["faults"] == [], stats["faults"]


def test_camera_disappears_and_returns(
        shared_data: Path, broker: MosquittoBroker, recorder: Recorder, tmp_path: Path) -> None:
    video = tmp_path / "camera.mp4"
    shutil.copy(shared_data / "video" / "single_face.mp4", video)  # 2.4 s, loops
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                       publish={"interval_s": 0.25, "stats_interval_s": 1.0},
                       camera={"enabled": True, "backend": "file", "path": str(video)},
                       runtime=FAST_RESTART)
    d = DaemonProcess(cfg)
    try:
        state_after(recorder, 0, present("face"), timeout=40)
        # Unplugged: the file vanishes; the source fails at its next (re)open.
        video.rename(tmp_path / "gone.mp4")
        stats = stats_after(recorder, time.time(), lambda s: any(
            f.startswith("camera:file: cannot open") for f in s["faults"]), timeout=20)
        assert stats["stages"]["camera:file"]["state"] == "backoff"
        # the other modality keeps publishing; the lost one is reported absent
        s = state_after(recorder, stats["ts"] + 10.5, timeout=25)  # fusion.max_age_s = 10
        assert s["modalities"]["physio"]["present"]
        assert not s["modalities"]["face"]["present"]
        # Plugged back in: it comes back by itself within the backoff bound.
        (tmp_path / "gone.mp4").rename(video)
        t_back = time.time()
        s = state_after(recorder, t_back, present("face"), timeout=20)
        assert s["modalities"]["physio"]["present"]
        stats = stats_after(recorder, time.time(), timeout=10)
        assert stats["faults"] == [], stats["faults"]
        assert stats["stages"]["camera:file"]["restarts"] >= 1
    finally:
        code, _, err = d.stop()
    assert code == 0, err


def test_microphone_unplugged_and_plugged_back(broker: MosquittoBroker, recorder: Recorder,
                                                tmp_path: Path) -> None:
    """PyAudio on ALSA, for real: the capture device is missing at start (PortAudio
    finds no such input), the daemon reports it and keeps publishing physiology;
    when the device appears the voice path starts by itself."""
    pytest.importorskip("pyaudio", reason="pyaudio not installed (script/test installs it)")
    speech, rate = sf.read(demo_speech(), dtype="float32")
    assert rate == 16000
    env = alsa_home(tmp_path, speech[: 8 * rate])
    asoundrc = tmp_path / ".asoundrc"
    asoundrc.rename(tmp_path / "asoundrc.unplugged")
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                       publish={"interval_s": 0.25, "stats_interval_s": 1.0},
                       microphone={"enabled": True, "backend": "pyaudio",
                                   "device": "affectd_test"},
                       runtime=FAST_RESTART)
    d = DaemonProcess(cfg, env={"HOME": env["HOME"]})
    try:
        stats = stats_after(recorder, 0, lambda s: any(
            "no input device matching 'affectd_test'" in f for f in s["faults"]), timeout=30)
        assert stats["stages"]["microphone:pyaudio"]["state"] == "backoff"
        errors_before = stats["stages"]["microphone:pyaudio"]["errors"]
        assert errors_before >= 1
        s = state_after(recorder, stats["ts"], present("physio"), timeout=20)
        assert not s["modalities"]["voice"]["present"]
        (tmp_path / "asoundrc.unplugged").rename(asoundrc)  # plugged in
        t_back = time.time()
        state_after(recorder, t_back, present("voice"), timeout=30)
        stats = stats_after(recorder, time.time(), timeout=10)
        assert stats["faults"] == [], stats["faults"]
        assert stats["stages"]["microphone:pyaudio"]["state"] == "running"
    finally:
        code, _, err = d.stop()
    assert code == 0, err[-2000:]


def test_full_state_directory(broker: MosquittoBroker, recorder: Recorder,
                              tmp_path: Path) -> None:
    """The state directory on a 16 KiB tmpfs filled to the last byte (in a private mount
    namespace): the privacy switch still works in memory, the fault is in `stats`,
    and once space is freed the switch is persisted again."""
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "--user", "--map-root-user", "--mount",
                            "true"], capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no user+mount namespaces here (unshare) to mount a small tmpfs")
    state = tmp_path / "state"
    state.mkdir()
    cfg = write_config(tmp_path / "a.toml", broker.port, state,
                       publish={"interval_s": 0.25, "stats_interval_s": 1.0})
    script = (f'mount -t tmpfs -o size=16k tmpfs "{state}" && '
              f'(dd if=/dev/zero of="{state}/filler" bs=1k count=64 2>/dev/null; true) && '
              f'exec "{sys.executable}" -B -m edge run --config "{cfg}"')
    proc = subprocess.Popen([unshare or "unshare", "--user", "--map-root-user", "--mount",
                             "sh", "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        state_after(recorder, 0, present("physio"), timeout=20)
        t_cmd = time.time()
        mqtt_publish.single(f"{BASE}/privacy/set", "ON", hostname="127.0.0.1",
                            port=broker.port)
        paused = state_after(recorder, t_cmd, lambda s: s["paused"], timeout=5)
        assert paused["valence"] is None and not paused["modalities"]["physio"]["present"]
        stats = stats_after(recorder, t_cmd, lambda s: s["paused"], timeout=10)
        assert any("state_dir not writable" in f and "No space left" in f
                   for f in stats["faults"]), stats["faults"]
        assert d_alive(proc)
        # Space freed (seen through the daemon's own mount namespace): the next switch
        # is persisted and the fault clears.
        (Path(f"/proc/{proc.pid}/root") / str(state).lstrip("/") / "filler").unlink()
        t_cmd = time.time()
        mqtt_publish.single(f"{BASE}/privacy/set", "OFF", hostname="127.0.0.1",
                            port=broker.port)
        state_after(recorder, t_cmd, lambda s: not s["paused"] and s["modalities"]["physio"]
                    ["present"], timeout=20)
        stats = stats_after(recorder, t_cmd, lambda s: not s["paused"], timeout=10)
        assert stats["faults"] == [], stats["faults"]
        saved = Path(f"/proc/{proc.pid}/root") / str(state).lstrip("/") / "privacy.json"
        assert saved.read_text() == '{"paused": false}'
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert not (state / "privacy.json").exists()  # it lived on the tmpfs only


def d_alive(proc: subprocess.Popen[str]) -> bool:
    return proc.poll() is None


PHASES = ["loading", "running", "broker_down", "paused", "source_backoff"]


@pytest.mark.parametrize("phase", PHASES)
def test_sigterm_in_every_phase(phase: str, tmp_path: Path) -> None:
    """SIGTERM ends the daemon with status 0 within systemd's TimeoutStopSec (15 s) in
    every phase, and, when the broker is there, `offline` is its last word."""
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed (script/test installs it)")
    with MosquittoBroker() as b:
        rec = Recorder(b.port)
        sections: dict[str, dict[str, Any]] = {
            "mqtt": {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
            "publish": {"interval_s": 0.2, "stats_interval_s": 1.0},
            "runtime": FAST_RESTART,
        }
        if phase == "source_backoff":  # a camera that cannot be opened, retried
            broken = tmp_path / "broken.mp4"
            broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
            sections["camera"] = {"enabled": True, "backend": "file", "path": str(broken)}
        cfg = write_config(tmp_path / "a.toml", b.port, tmp_path / "state", **sections)
        d = DaemonProcess(cfg)
        try:
            if phase == "loading":
                time.sleep(0.3)  # interpreter up, models and sources still loading
            else:
                rec.wait_for(f"{BASE}/state", 2, timeout=20)
            if phase == "broker_down":
                b.stop()
                time.sleep(1.5)  # the publisher is reconnecting
            elif phase == "paused":
                mqtt_publish.single(f"{BASE}/privacy/set", "ON", hostname="127.0.0.1",
                                    port=b.port)
                rec.wait_for(f"{BASE}/state", pred=lambda m: m.json()["paused"])
            elif phase == "source_backoff":
                st = stats_after(rec, 0, lambda s: s["stages"].get("camera:file", {})
                                 .get("state") == "backoff")
                assert any(f.startswith("camera:file") for f in st["faults"])
            t0 = time.monotonic()
            code, _, err = d.stop(signal.SIGTERM, timeout=15)
            took = time.monotonic() - t0
            if phase in ("running", "paused", "source_backoff"):
                rec.wait_for(f"{BASE}/availability", pred=lambda m: m.payload == b"offline",
                             timeout=5)
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
            rec.close()
    assert code == 0, err[-2000:]
    assert took < 15.0
    assert "Traceback" not in err, err[-2000:]
    avail = [m.payload for m in rec.on(f"{BASE}/availability")]
    if phase in ("running", "paused", "source_backoff"):
        assert avail and avail[-1] == b"offline", avail
    if phase == "paused":  # nothing sensed after the switch, up to the end
        assert rec.on(f"{BASE}/state")[-1].json()["paused"]
