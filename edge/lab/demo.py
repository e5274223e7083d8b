"""`affectd demo`: the daemon on generated inputs with an embedded broker.

Starts Mosquitto (or amqtt), runs the daemon on emulated wearables (a Polar H10
and an EDA sensor on Bumble's virtual radio, reached through bleak) and on
synthesized speech played as a microphone (edge/assets/demo_speech.flac), and
prints every message the broker delivers as `TOPIC PAYLOAD` lines, like
`mosquitto_sub -v`, until Ctrl-C or `--seconds`. Nothing from ../shared is
used; nothing is written outside a temporary state directory.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import parse_settings
from edge.daemon import Daemon
from edge.lab.broker import start_embedded_broker


def demo_speech() -> Path:
    """Sentences spoken by espeak-ng (script/make-demo-audio), shipped with the package."""
    return Path(str(resources.files("edge").joinpath("assets/demo_speech.flac")))


def demo_settings(port: int, state_dir: Path) -> dict[str, Any]:
    return {
        "device": {"id": "demo", "state_dir": str(state_dir)},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 1.0},
        "publish": {"interval_s": 1.0, "stats_interval_s": 10.0},
        # the wearables are Bumble emulators reached through bleak, as real ones would be
        "physio": {"enabled": True, "backend": "emulated",
                   "devices": ["polar_h10@A0:9E:1A:DE:30:01", "eda@E0:DA:00:DE:30:01"],
                   "calibration_s": 8.0},
        "microphone": {"enabled": True, "backend": "file", "path": str(demo_speech())},
        "runtime": {"log_level": "warning"},
    }


def run_demo(seconds: float | None = None, port: int | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    broker = start_embedded_broker(port)
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with lock:
            sys.stdout.write(f"{msg.topic} {msg.payload.decode('utf-8', 'replace')}\n")
            sys.stdout.flush()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="affectd-demo-sub")
    sub.on_message = on_message
    def on_connect(client: mqtt.Client, *_: Any) -> None:
        client.subscribe([("affectd/#", 0), ("homeassistant/#", 0)])

    sub.on_connect = on_connect
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    with tempfile.TemporaryDirectory(prefix="affectd-demo-") as tmp:
        settings = parse_settings(demo_settings(broker.port, Path(tmp)))
        daemon = Daemon(settings)
        daemon.install_signal_handlers()
        try:
            code = daemon.run(duration_s=seconds)
        finally:
            threading.Event().wait(0.5)  # let the last messages arrive
            sub.loop_stop()
            sub.disconnect()
            broker.close()
    return code
