"""Hostile MQTT command payloads against a running daemon: nothing may crash it."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from edge.lab.broker import MosquittoBroker
from tests.conftest import DaemonProcess, Recorder, write_config


@pytest.mark.parametrize("profile", ["full", "biofeedback"])
def test_random_command_payloads_do_not_disturb_the_daemon(
        profile: str, broker: MosquittoBroker, recorder: Recorder, tmp_path: Path) -> None:
    """Every command topic the daemon subscribes to (privacy/set, homeassistant/status,
    and with the biofeedback profile calibrate/set) gets 300 random payloads."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    out = "affectd/test/" + ("state" if profile == "full" else "biofeedback")
    topics = ["affectd/test/privacy/set", "homeassistant/status"]
    if profile == "biofeedback":
        topics.append("affectd/test/calibrate/set")
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                       publish={"interval_s": 0.2, "stats_interval_s": 1.0, "profile": profile})
    d = DaemonProcess(cfg)
    try:
        recorder.wait_for(out, 2, timeout=20)
        if profile == "biofeedback":  # the first baseline is done before the fuzzing
            recorder.wait_for(out, pred=lambda m: m.json()["stress"] is not None, timeout=20)
        t_fuzz = time.monotonic()
        rng = random.Random(7)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzz")
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        sent = 0
        for _ in range(300):
            topic = rng.choice(topics)
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
            if payload.strip().upper() in (b"ON", b"OFF", b"ONLINE", b"START"):
                continue
            c.publish(topic, payload, qos=1).wait_for_publish(5)
            sent += 1
        c.loop_stop()
        time.sleep(1.5)
        n = len(recorder.on(out))
        recorder.wait_for(out, n + 3)  # still publishing
        if profile == "biofeedback":  # garbage never restarted the calibration
            after = [m.json() for m in recorder.on(out) if m.t > t_fuzz]
            assert after and not any(b["calibrating"] for b in after)
        stats = recorder.wait_for("affectd/test/stats", pred=lambda m: m.json()["mqtt"]
                                  ["bad_commands"] > 0)
        assert d.proc.poll() is None
    finally:
        code, _, err = d.stop()
    assert code == 0, err
    assert not stats[-1].json()["paused"]  # garbage never flipped the switch
    assert stats[-1].json()["mqtt"]["bad_commands"] <= sent
