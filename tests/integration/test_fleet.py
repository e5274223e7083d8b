"""A fleet on real Mosquitto brokers, run from the documented configs
(docs/mosquitto/fleet/): two sites bridged to a central broker over mutual TLS with the
documented ACLs. Every device's availability, discovery and state reach the central
broker; a command published centrally reaches only its device; a bridge cut for 30 s
and a central broker restart lose nothing that the documented queue holds; a device
that dies shows offline centrally (its last will through the bridge)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.lab.fleet import CENTRAL_USER, PASSWORD, FleetTopology
from tests.conftest import DaemonProcess, Recorder, write_config

ENV = {**os.environ, "AFFECTD_MQTT_PASSWORD": PASSWORD}


@pytest.fixture
def fleet(request: pytest.FixtureRequest) -> Iterator[FleetTopology]:
    if not FleetTopology.available():
        pytest.skip("mosquitto, mosquitto_passwd and openssl are needed (script/test installs)")
    with FleetTopology(request.param) as f:
        yield f


def device(tmp_path: Path, fleet: FleetTopology, site: str, dev: str,
           **sections: dict[str, object]) -> DaemonProcess:
    cfg = write_config(
        tmp_path / f"{site}-{dev}.toml", fleet.sites[site].port, tmp_path / f"{site}-{dev}",
        device={"id": dev},
        mqtt={"topic_prefix": f"affectd/{site}", "username": dev,
              "password_env": "AFFECTD_MQTT_PASSWORD", "keepalive_s": 5,
              "bridge_state_topic": f"affectd/{site}/bridge/connected"},
        **sections)
    return DaemonProcess(cfg, env=ENV)


def central_recorder(fleet: FleetTopology) -> Recorder:
    return Recorder(fleet.consumer_port, persistent=True, username=CENTRAL_USER,
                    password=PASSWORD)


def publish(port: int, user: str, topic: str, payload: str) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(port), "-u", user, "-P", PASSWORD, "-q", "1",
                    "-t", topic, "-m", payload], check=True, timeout=10)


@pytest.mark.parametrize("fleet", [{"site1": ["door", "hall"], "site2": ["door"]}],
                         indirect=True)
def test_devices_reach_central_and_commands_reach_only_their_device(
        fleet: FleetTopology, tmp_path: Path) -> None:
    rec = central_recorder(fleet)
    devices = {(s, d): device(tmp_path, fleet, s, d) for s, ids in fleet.devices.items()
               for d in ids}
    try:
        for site, dev in devices:
            base = f"affectd/{site}/{dev}"
            rec.wait_for(f"{base}/availability", pred=lambda m: m.payload == b"online",
                         timeout=30)
            rec.wait_for(f"{base}/state", 3, timeout=30)
            disc = rec.wait_for(f"homeassistant/device/affectd_{site}_{dev}/config")[-1].json()
            assert disc["dev"]["ids"] == [f"affectd_{site}_{dev}"]
            assert {"t": f"affectd/{site}/bridge/connected", "pl_avail": "1",
                    "pl_not_avail": "0"} in disc["avty"]
        # a command from the central broker reaches its device only
        publish(fleet.consumer_port, CENTRAL_USER, "affectd/site1/door/privacy/set", "ON")
        rec.wait_for("affectd/site1/door/privacy/state", pred=lambda m: m.payload == b"ON")
        t_cmd = time.time()
        rec.wait_for("affectd/site1/door/state",
                     pred=lambda m: m.json()["paused"] and m.json()["ts"] > t_cmd)
        time.sleep(2)
        for other in ("affectd/site1/hall", "affectd/site2/door"):
            assert all(m.payload == b"OFF" for m in rec.on(f"{other}/privacy/state"))
            assert not any(m.json()["paused"] for m in rec.on(f"{other}/state"))
        # the site ACL: a device cannot publish as another one; nothing crosses the bridge
        publish(fleet.sites["site1"].port, "door", "affectd/site1/hall/state", "{}")
        time.sleep(1)
        assert all(m.payload != b"{}" for m in rec.on("affectd/site1/hall/state"))
        # a device that dies: its last will reaches the central broker through the bridge
        devices[("site2", "door")].stop(signal.SIGKILL)
        rec.wait_for("affectd/site2/door/availability",
                     pred=lambda m: m.payload == b"offline", timeout=20)
    finally:
        for d in devices.values():
            d.stop()
        rec.close()


@pytest.mark.parametrize("fleet", [{"site1": ["door"]}], indirect=True)
def test_bridge_cut_and_central_restart_lose_nothing_the_queue_holds(
        fleet: FleetTopology, tmp_path: Path) -> None:
    interval = 1.0
    rec = central_recorder(fleet)
    d = device(tmp_path, fleet, "site1", "door",
               publish={"interval_s": interval, "stats_interval_s": 5.0})
    base = "affectd/site1/door"
    bridge = "affectd/site1/bridge/connected"
    try:
        rec.wait_for(f"{base}/state", 3, timeout=30)
        # the uplink is cut for 30 s: the central side marks the bridge down (its will)
        fleet.links["site1"].cut()
        t_cut = time.time()
        rec.wait_for(bridge, pred=lambda m: m.payload == b"0", timeout=30)
        time.sleep(max(0.0, 30 - (time.time() - t_cut)))
        fleet.links["site1"].restore()
        t_up = time.time()
        rec.wait_for(bridge, pred=lambda m: m.payload == b"1" and m.t > rec.on(bridge)[-2].t,
                     timeout=40)
        rec.wait_for(f"{base}/state", pred=lambda m: m.json()["ts"] > t_up + 2, timeout=40)
        # the central broker is killed (no clean shutdown, nothing saved since its start)
        # and restarted: the site queues, the bridge comes back and re-sends the retained
        # availability, states resume
        assert fleet.central.proc is not None
        fleet.central.proc.kill()
        fleet.central.proc.wait(5)
        # (the link held until this recorder has its subscription back on the new broker,
        # which lost every session: otherwise the flush could come before it listens)
        fleet.links["site1"].cut()
        time.sleep(5)
        fleet.central.start()
        end = time.monotonic() + 20
        while not rec.client.is_connected() and time.monotonic() < end:
            time.sleep(0.2)
        time.sleep(1.0)
        fleet.links["site1"].restore()
        t_back = time.time()
        rec.wait_for(f"{base}/state", pred=lambda m: m.json()["ts"] > t_back + 2, timeout=60)
        time.sleep(2)
    finally:
        code, _, err = d.stop()
        rec.close()
    assert code == 0, err[-2000:]
    ts = np.array(sorted({m.json()["ts"] for m in rec.on(f"{base}/state")}))
    assert ts[0] < t_cut - 1 and ts[-1] > t_back + 2
    gaps = np.diff(ts)
    # one state a second before, during and after both outages: none missing
    assert gaps.max() < 2.5 * interval, (gaps.max(), ts[np.argmax(gaps)] - t_cut)
    cut_states = ((ts > t_cut + 1) & (ts < t_up - 1)).sum()
    assert cut_states >= 27, cut_states
    # the retained availability came back to the restarted central broker
    late = central_recorder(fleet)
    try:
        got = late.wait_for(f"{base}/availability", timeout=10)
        assert got[-1].retain
    finally:
        late.close()


def test_fleet_demo_shows_every_device_online_with_discovery_and_states() -> None:
    if not FleetTopology.available():
        pytest.skip("mosquitto, mosquitto_passwd and openssl are needed (script/test installs)")
    import sys

    out = subprocess.run([sys.executable, "-m", "edge.lab.fleet_demo", "--seconds", "25"],
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line.split(" ", 1) for line in out.stdout.splitlines()]
    devices = [("site1", "entrance"), ("site1", "hall"), ("site2", "entrance")]
    for site, dev in devices:
        base = f"affectd/{site}/{dev}"
        assert [base + "/availability", "online"] in lines
        assert any(t == f"homeassistant/device/affectd_{site}_{dev}/config" for t, _ in lines)
        states = [p for t, p in lines if t == base + "/state"]
        assert len(states) >= 10, (base, len(states))
