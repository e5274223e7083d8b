"""Shared fixtures: a real Mosquitto broker per test, an MQTT recorder, data paths."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.lab.broker import MosquittoBroker

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("AFFECTD_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    d = data_dir()
    if not d.is_dir():
        pytest.skip(f"dataset folder {d} absent (set AFFECTD_DATA)")
    return d


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed (script/test installs it)")
    with MosquittoBroker() as b:
        yield b


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    t: float

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Recorder:
    """Subscribes to everything on a broker and keeps what arrives."""

    port: int
    persistent: bool = False
    username: str | None = None
    password: str | None = None
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # A persistent session (clean_session False, QoS 1) makes the broker keep messages
        # for the recorder while it is away, e.g. across a broker restart.
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{id(self)}",
                                  clean_session=not self.persistent)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        self.client.reconnect_delay_set(1, 1)
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain),
                                          time.monotonic()))

    def on(self, topic: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, count: int = 1, timeout: float = 15.0,
                 pred: Any = None) -> list[Received]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = [m for m in self.on(topic) if pred is None or pred(m)]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} message(s) on {topic} not received in {timeout} s; "
                             f"got {len(self.on(topic))}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class DaemonProcess:
    """`python -m edge run` as a child process, like systemd runs it."""

    def __init__(self, config: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, wrapper: str | None = None) -> None:
        import subprocess
        import sys

        full_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        full_env["PYTHONPATH"] = str(ROOT)
        args = [sys.executable, "-B"]
        args += ["-c", wrapper] if wrapper else ["-m", "edge"]
        args += ["run", "--config", str(config)]
        self.proc = subprocess.Popen(args, cwd=cwd or ROOT, env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self, sig: int = 15, timeout: float = 15.0) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture
def recorder(broker: MosquittoBroker) -> Iterator[Recorder]:
    rec = Recorder(broker.port)
    yield rec
    rec.close()


def write_config(path: Path, port: int, state_dir: Path, **sections: dict[str, Any]) -> Path:
    """Write a TOML config for a test daemon on `port`."""
    base: dict[str, dict[str, Any]] = {
        "device": {"id": "test", "state_dir": str(state_dir)},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.2,
                 "reconnect_max_s": 1.0},
        "publish": {"interval_s": 0.25, "stats_interval_s": 2.0},
        "physio": {"backend": "synthetic", "calibration_s": 5.0},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    lines = []
    for name, values in base.items():
        lines.append(f"[{name}]")
        for k, v in values.items():
            lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
    path.write_text("\n".join(lines) + "\n")
    return path


def alsa_home(tmp_path: Path, pcm: Any) -> dict[str, str]:
    """An environment whose ~/.asoundrc defines `affectd_test`, an ALSA capture PCM
    (the `file` plugin) that plays `pcm` (float samples) as microphone input."""
    import numpy as np

    raw = tmp_path / "capture.raw"
    raw.write_bytes(np.clip(pcm * 32767, -32768, 32767).astype("<i2").tobytes())
    (tmp_path / ".asoundrc").write_text(f'''
pcm.affectd_test {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
    hint {{ show on description "affectd test microphone" }}
}}
''')
    return {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}


def tampered_copy(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the shipped models with one bit of one model file flipped."""
    import shutil

    from edge.registry import Registry, default_models_dir

    models = tmp_path / "models"
    shutil.copytree(default_models_dir(), models, ignore=shutil.ignore_patterns("training"))
    entry = next(iter(Registry(models).entries.values()))
    target = models / entry.file
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    target.write_bytes(bytes(data))
    return models, entry.id
