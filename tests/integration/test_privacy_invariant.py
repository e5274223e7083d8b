"""Privacy invariant: everything published passes the allow-list and is at most 4 KiB,
and the daemon process writes no file outside its state directory.

File writes are observed from inside the daemon process with a Python audit hook
(`open` with a write mode or flags, `os.rename`/`os.replace`, `os.mkdir`), which
sees every file the interpreter and its libraries open through Python."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from edge.lab.broker import MosquittoBroker
from edge.lab.demo import demo_speech
from edge.publish.gate import MAX_PAYLOAD_BYTES, PayloadGate, PayloadRefused
from tests.conftest import DaemonProcess, Recorder, data_dir, write_config

AUDIT_WRAPPER = r'''
import json, os, sys
writes = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS):
            writes.append(os.path.abspath(os.fsdecode(path)))
    elif event in ("os.rename", "os.replace"):
        writes.append(os.path.abspath(os.fsdecode(args[1])))
    elif event == "os.mkdir":
        writes.append(os.path.abspath(os.fsdecode(args[0])))
sys.addaudithook(hook)
from edge.cli import main
sys.argv = ["affectd"] + sys.argv[1:]
code = main()
sys.stderr.write("AUDIT-WRITES " + json.dumps(sorted(set(writes))) + "\n")
sys.exit(code)
'''

KIND_BY_TOPIC = [
    (re.compile(r"^affectd/priv/availability$"), "availability"),
    (re.compile(r"^affectd/priv/state$"), "state"),
    (re.compile(r"^affectd/priv/stats$"), "stats"),
    (re.compile(r"^affectd/priv/privacy/state$"), "privacy_state"),
    (re.compile(r"^homeassistant/device/affectd_priv/config$"), "discovery"),
]


def kind_of(topic: str) -> str | None:
    for rx, kind in KIND_BY_TOPIC:
        if rx.match(topic):
            return kind
    return None


def camera_input(tmp_path: Path) -> Path:
    """A real face clip from ../shared when present, else a generated moving pattern."""
    shared = data_dir() / "video" / "WolfgangLanger_Pexels.mp4"
    if shared.exists():
        return shared
    import cv2
    import numpy as np

    path = tmp_path / "inputs" / "pattern.avi"
    path.parent.mkdir()
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, (320, 240))
    for i in range(60):
        img = np.full((240, 320, 3), 40, np.uint8)
        cv2.circle(img, (40 + 4 * i, 120), 30, (200, 180, 160), -1)
        w.write(img)
    w.release()
    return path


def test_payloads_allow_listed_small_and_no_file_outside_state_dir(
        broker: MosquittoBroker, recorder: Recorder, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    cfg = write_config(tmp_path / "a.toml", broker.port, state_dir,
                       device={"id": "priv"},
                       publish={"interval_s": 0.2, "stats_interval_s": 1.0},
                       physio={"calibration_s": 5.0},
                       camera={"enabled": True, "backend": "file",
                               "path": str(camera_input(tmp_path)), "fps": 15.0},
                       microphone={"enabled": True, "backend": "file",
                                   "path": str(demo_speech())})
    d = DaemonProcess(cfg, cwd=workdir, env={"HOME": str(tmp_path / "home"),
                                             "TMPDIR": str(tmp_path / "tmp")},
                      wrapper=AUDIT_WRAPPER)
    try:
        recorder.wait_for("affectd/priv/state", pred=lambda m: m.json()["stress"] is not None,
                          timeout=30)
        states = recorder.wait_for("affectd/priv/state", pred=lambda m: m.json()["modalities"]
                                   .get("face", {}).get("present", False))
        assert "faces" in states[-1].json()["modalities"]["face"]
        recorder.wait_for("affectd/priv/state", pred=lambda m: m.json()["modalities"]
                          .get("voice", {}).get("present", False), timeout=20)
        recorder.wait_for("affectd/priv/stats", 2)
        # exercise the privacy switch so the state directory is really written
        import paho.mqtt.publish as single

        single.single("affectd/priv/privacy/set", "ON", qos=1, hostname="127.0.0.1",
                      port=broker.port)
        recorder.wait_for("affectd/priv/privacy/state", pred=lambda m: m.payload == b"ON")
        time.sleep(0.5)
    finally:
        code, _, err = d.stop()
    assert code == 0, err
    gate = PayloadGate()
    ours = [m for m in recorder.messages if kind_of(m.topic) is not None]
    kinds = {kind_of(m.topic) for m in ours}
    assert kinds == {"availability", "state", "stats", "privacy_state", "discovery"}
    for m in ours:
        assert len(m.payload) <= MAX_PAYLOAD_BYTES, m.topic
        kind = kind_of(m.topic)
        assert kind is not None
        payload = m.payload.decode() if kind in ("availability", "privacy_state") \
            else json.loads(m.payload)
        gate.check(kind, payload)  # raises PayloadRefused on anything not allow-listed
    stray = [m.topic for m in recorder.messages if kind_of(m.topic) is None
             and m.topic != "affectd/priv/privacy/set"]
    assert stray == []
    line = next(ln for ln in err.splitlines() if ln.startswith("AUDIT-WRITES "))
    writes = json.loads(line.removeprefix("AUDIT-WRITES "))
    outside = [w for w in writes if not Path(w).is_relative_to(state_dir)]
    assert outside == [], outside
    assert str(state_dir / "privacy.json") in writes
    assert list(workdir.iterdir()) == []


def test_gate_refuses_what_is_not_allow_listed() -> None:
    gate = PayloadGate()
    base = {"schema": 1, "ts": 1.0, "paused": False, "valence": 0.1, "arousal": 0.2,
            "stress": 0.3, "emotion": "happy",
            "probs": dict.fromkeys(("angry", "disgust", "fear", "happy", "neutral", "sad",
                                    "surprise"), 1 / 7),
            "confidence": 0.5, "modalities": {}}
    gate.check("state", base)
    # scene aggregates of the action units are allowed in the full profile's metrics
    gate.check("state", {**base, "metrics": {"au12": 0.8, "au6": 0.4, "smiling_share": 0.5}})
    bad_cases = [
        {**base, "metrics": {"au12": 0.8, "au12_track_3": 0.9}},  # one face's action unit
        {**base, "metrics": {"au12": 1.7}},  # out of range
        {**base, "modalities": {"face": {"present": True, "quality": 1, "age_s": 0,
                                         "aus": {"AU12": 0.9}}}},  # per-face action units
        {**base, "ecg": [1, 2, 3]},  # raw samples: unknown key
        {**base, "valence": 2.0},  # out of range
        {**base, "emotion": "contempt"},  # not a label
        {**base, "modalities": {"face": {"present": True, "quality": 1, "age_s": 0,
                                         "box": [1, 2, 3, 4]}}},  # per-face geometry
        {**base, "metrics": {"ecg_uv": 1.0}},
        {**base, "probs": {"happy": 1.0}},
    ]
    for i, bad in enumerate(bad_cases):
        try:
            gate.check("state", bad)
        except PayloadRefused:
            continue
        raise AssertionError(f"case {i} was not refused")
    assert gate.refused == len(bad_cases)
    try:
        gate.check("availability", "maybe")
        raise AssertionError("not refused")
    except PayloadRefused:
        pass
    try:
        gate.check("nonsense", {})
        raise AssertionError("not refused")
    except PayloadRefused:
        pass
    huge = {**base, "modalities": {"face": {"present": True, "quality": 1.0,
                                            "age_s": 0.123456789012345678 * 10 ** 6}}}
    gate.check("state", huge)
