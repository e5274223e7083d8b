"""`script/fleet-demo`: a fleet on loopback, seen from the central broker.

Starts two site Mosquitto brokers bridged to a central one from the documented configs
(`edge/lab/fleet.py`, docs/fleet.md), three daemons on file inputs (two on site1, one on
site2: the shipped speech recording as the microphone and the synthetic wearer), and
prints what the central broker delivers as `TOPIC PAYLOAD` lines, like `script/demo`,
until Ctrl-C or `--seconds`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.lab.demo import demo_speech
from edge.lab.fleet import CENTRAL_USER, PASSWORD, FleetTopology

FLEET = {"site1": ["entrance", "hall"], "site2": ["entrance"]}


def device_config(path: Path, site: str, dev: str, port: int) -> Path:
    conf: dict[str, dict[str, Any]] = {
        "device": {"id": dev, "state_dir": str(path.parent / f"state-{site}-{dev}")},
        "mqtt": {"host": "127.0.0.1", "port": port, "topic_prefix": f"affectd/{site}",
                 "username": dev, "password_env": "AFFECTD_MQTT_PASSWORD",
                 "bridge_state_topic": f"affectd/{site}/bridge/connected"},
        "publish": {"interval_s": 1.0, "stats_interval_s": 10.0},
        "microphone": {"enabled": True, "backend": "file", "path": str(demo_speech())},
        "physio": {"enabled": True, "backend": "synthetic", "calibration_s": 8.0},
        "runtime": {"log_level": "warning"},
    }
    lines = []
    for section, values in conf.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_fleet_demo(seconds: float | None) -> int:
    if not FleetTopology.available():
        print("fleet-demo: needs mosquitto, mosquitto_passwd and openssl", file=sys.stderr)
        return 69
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with lock:
            sys.stdout.write(f"{msg.topic} {msg.payload.decode('utf-8', 'replace')}\n")
            sys.stdout.flush()

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    env = {**os.environ, "AFFECTD_MQTT_PASSWORD": PASSWORD}
    with FleetTopology(FLEET) as fleet, tempfile.TemporaryDirectory(prefix="affectd-fl-") as t:
        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="affectd-fleet-demo")
        sub.username_pw_set(CENTRAL_USER, PASSWORD)
        sub.on_message = on_message
        sub.on_connect = lambda c, *_: c.subscribe([("affectd/#", 0), ("homeassistant/#", 0)])
        sub.connect("127.0.0.1", fleet.consumer_port)
        sub.loop_start()
        procs = [subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config",
             str(device_config(Path(t) / f"{site}-{dev}.toml", site, dev,
                               fleet.sites[site].port))], env=env)
            for site, ids in FLEET.items() for dev in ids]
        try:
            stop.wait(seconds)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(15)
            time.sleep(0.5)  # the last messages through the bridges
            sub.loop_stop()
            sub.disconnect()
    return max((p.returncode for p in procs), default=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fleet-demo", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    return run_fleet_demo(p.parse_args(argv).seconds)


if __name__ == "__main__":
    sys.exit(main())
