"""Publishing profiles against a real Mosquitto: kiosk audience aggregates only over at
least k faces (and nothing per person), mood_light at most once a second with only
its fields, biofeedback's physiology windows and its calibrate command; plus the
audience window's k rule and Laplace noise, and every profile's HA discovery."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import paho.mqtt.publish as mqtt_publish
import pytest

from edge.lab.broker import MosquittoBroker
from edge.messages import EMOTIONS, FaceObservation, ModalityEstimate
from edge.profiles import profile_class
from edge.profiles.audience import AudienceWindow
from edge.publish.gate import PayloadGate
from edge.publish.payloads import Topics, discovery_payload
from edge.settings import PublishSettings, Settings
from tests.conftest import DaemonProcess, Recorder, write_config

BASE = "affectd/test"
PER_PERSON_KEYS = ("track", "box", "bbox", "face_id", "landmarks")


def face_estimate(ts: float, tracks: list[int], label: str = "happy") -> ModalityEstimate:
    p = tuple(0.7 if e == label else 0.05 for e in EMOTIONS)
    return ModalityEstimate("face", ts, 0.9, probs=p, count=len(tracks),
                            faces=tuple(FaceObservation(t, p, 0.5, 0.2) for t in tracks))


def test_audience_window_needs_k_tracks_and_weighs_people_equally() -> None:
    w = AudienceWindow(k=3, window_s=10.0)
    for i in range(20):
        w.observe(face_estimate(float(i), [1, 2]))
    assert w.close(0.0) is None and w.windows_suppressed == 1  # two people: nothing
    for i in range(50):  # one long stay (happy) and two short visits (sad)
        w.observe(face_estimate(float(i), [7], "happy"))
        if i < 3:
            w.observe(face_estimate(float(i), [8, 9], "sad"))
    w.observe(face_estimate(60.0, [10]))  # one frame only: below min_frames, not counted
    a = w.close(1.0)
    assert a is not None and a["faces"] == 3
    assert a["emotions"]["sad"] == 2 and a["emotions"]["happy"] == 1
    assert a["dwell_s_median"] == 2.0 and a["dwell_s_mean"] == pytest.approx((49 + 2 + 2) / 3,
                                                                              abs=0.1)
    assert PayloadGate().check("audience", a)
    assert w.close(2.0) is None  # per-track state was dropped with the window


def test_audience_action_units_need_k_tracks_with_a_reading() -> None:
    w = AudienceWindow(k=3, window_s=10.0)
    p = tuple(0.7 if e == "happy" else 0.05 for e in EMOTIONS)

    def est(ts: float, read: dict[int, float | None]) -> ModalityEstimate:
        faces = tuple(FaceObservation(t, p, 0.5, 0.2, None if au12 is None else
                                      {"AU12": au12, "AU4": 0.1})
                      for t, au12 in read.items())
        return ModalityEstimate("face", ts, 0.9, probs=p, count=len(faces), faces=faces)

    for i in range(5):  # three people, only two of them with a mesh reading
        w.observe(est(float(i), {1: 0.9, 2: 0.2, 3: None}))
    a = w.close(0.0)
    assert a is not None and a["faces"] == 3 and "aus_mean" not in a
    for i in range(5):
        w.observe(est(float(i), {1: 0.9, 2: 0.2, 3: 0.7, 4: 0.1}))
    a = w.close(1.0)
    assert a is not None and a["aus_mean"] == {"AU12": pytest.approx(0.475), "AU4": 0.1}
    assert a["smiling_share"] == 0.5
    assert PayloadGate().check("audience", a)


def test_audience_counts_get_laplace_noise_of_the_stated_scale() -> None:
    w = AudienceWindow(k=3, window_s=10.0, epsilon=0.5, rng=np.random.default_rng(0))
    faces = []
    for _ in range(3000):
        for i in range(4):
            w.observe(face_estimate(float(i), [1, 2, 3, 4, 5]))
        a = w.close(0.0)
        assert a is not None and a["noise_epsilon"] == 0.5
        faces.append(a["faces"])
    f = np.array(faces)
    # Laplace(0, 1/epsilon) has variance 2/epsilon^2 = 8 (rounding adds ~1/12; clipping at
    # zero trims the far left tail a little)
    assert abs(f.mean() - 5.0) < 0.25 and 6.5 < f.var() < 9.5
    assert f.min() >= 0 and len(set(f.tolist())) > 10


@pytest.mark.parametrize("profile", ["full", "mood_light", "biofeedback", "kiosk"])
def test_every_profile_announces_valid_discovery(profile: str) -> None:
    s = replace(Settings(), publish=PublishSettings(profile=profile))
    payload = discovery_payload(s, Topics.from_settings(s), profile_class(profile))
    assert PayloadGate().check("discovery", payload)
    expected = {"full": "state", "mood_light": "mood", "biofeedback": "biofeedback",
                "kiosk": "audience"}[profile]
    assert payload["stat_t"].endswith("/" + expected)
    assert "privacy" in payload["cmps"]


def _no_per_person_data(rec: Recorder) -> None:
    for m in rec.messages:
        text = m.payload.decode("utf-8", "replace").lower()
        assert not any(f'"{k}"' in text for k in PER_PERSON_KEYS), (m.topic, text[:300])


def test_kiosk_publishes_audience_over_k_faces_and_nothing_per_person(
        shared_data: Path, broker: MosquittoBroker, recorder: Recorder, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                       publish={"profile": "kiosk", "kiosk_window_s": 5.0, "kiosk_k": 3,
                                "stats_interval_s": 2.0},
                       camera={"enabled": True, "backend": "file", "fps": 5.0,
                               "path": str(shared_data / "face" / "samples" / "multi_face.jpg")},
                       face={"tiles": 2})
    d = DaemonProcess(cfg)
    try:
        got = recorder.wait_for(f"{BASE}/audience", 2, timeout=40)
    finally:
        code, _, err = d.stop()
    assert code == 0, err[-2000:]
    gate = PayloadGate()
    for m in got:
        a = m.json()
        assert gate.check("audience", a)
        assert a["faces"] >= 3 and sum(a["emotions"].values()) == a["faces"]
        assert -1 <= a["valence_mean"] <= 1
    assert recorder.on(f"{BASE}/state") == []  # no per-device fused state in kiosk mode
    _no_per_person_data(recorder)


def test_kiosk_stays_silent_below_k_faces(shared_data: Path, broker: MosquittoBroker,
                                          recorder: Recorder, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                       publish={"profile": "kiosk", "kiosk_window_s": 5.0, "kiosk_k": 3,
                                "stats_interval_s": 2.0},
                       camera={"enabled": True, "backend": "file",
                               "path": str(shared_data / "video" / "single_face.mp4")})
    d = DaemonProcess(cfg)
    try:
        stats = recorder.wait_for(f"{BASE}/stats", 6, timeout=40)  # > two windows
        assert stats[-1].json()["stages"]["face"]["items"] > 20  # the face was analysed
    finally:
        code, _, err = d.stop()
    assert code == 0, err[-2000:]
    assert recorder.on(f"{BASE}/audience") == []
    assert recorder.on(f"{BASE}/state") == []
    _no_per_person_data(recorder)


def test_mood_light_is_at_most_one_hertz_with_only_its_fields(
        broker: MosquittoBroker, recorder: Recorder, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                       publish={"profile": "mood_light", "interval_s": 0.2})
    d = DaemonProcess(cfg)
    try:
        got = recorder.wait_for(f"{BASE}/mood", 5, timeout=20)
    finally:
        code, _, err = d.stop()
    assert code == 0, err[-2000:]
    ts = np.array([m.json()["ts"] for m in got])
    assert np.all(np.diff(ts) >= 0.95), np.diff(ts)
    for m in got:
        assert set(m.json()) == {"schema", "ts", "paused", "valence", "arousal", "emotion",
                                 "confidence"}
    assert recorder.on(f"{BASE}/state") == []


def test_biofeedback_windows_and_the_calibrate_command(
        broker: MosquittoBroker, recorder: Recorder, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                       publish={"profile": "biofeedback"},
                       physio={"backend": "synthetic", "calibration_s": 5.0})
    d = DaemonProcess(cfg)
    try:
        ready = recorder.wait_for(f"{BASE}/biofeedback", timeout=30,
                                  pred=lambda m: m.json()["stress"] is not None
                                  and m.json()["rmssd_ms"] is not None)
        b = ready[0].json()
        assert 40 < b["hr_bpm"] < 150 and b["rmssd_ms"] > 0 and 0 <= b["stress"] <= 1
        assert 6.0 <= b["breathing_bpm"] <= 10.0 and b["age_s"] < 1.5
        t0 = time.monotonic()
        mqtt_publish.single(f"{BASE}/calibrate/set", "START", hostname="127.0.0.1",
                            port=broker.port)
        again = recorder.wait_for(f"{BASE}/biofeedback", timeout=10,
                                  pred=lambda m: m.t > t0 and m.json()["calibrating"])
        assert again[0].json()["stress"] is None and again[0].json()["hr_bpm"] is not None
        done = recorder.wait_for(f"{BASE}/biofeedback", timeout=20,
                                 pred=lambda m: m.t > again[0].t and m.json()["stress"] is not None)
        assert done[0].t - again[0].t >= 4.0  # a new five-second baseline
    finally:
        code, _, err = d.stop()
    assert code == 0, err[-2000:]
    msgs = recorder.on(f"{BASE}/biofeedback")
    t = np.array([m.t for m in msgs])
    rate = (len(t) - 1) / (t[-1] - t[0])
    assert 0.8 <= rate <= 2.1, rate
    gate = PayloadGate()
    assert all(gate.check("biofeedback", m.json()) for m in msgs)
    assert recorder.on(f"{BASE}/state") == []
    disc = [json.loads(m.payload) for m in recorder.messages if m.topic.endswith("/config")]
    assert disc and "calibrate" in disc[-1]["cmps"]
