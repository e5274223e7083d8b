"""Run an existing MQTT broker for the demo and the tests: Mosquitto as a child
process when it is installed, else amqtt (PyPI) in a thread of this process.

Never a home-made broker: both are maintained MQTT implementations.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return True
        time.sleep(0.05)
    return False


class MosquittoBroker:
    """A mosquitto child process on 127.0.0.1:`port` with a generated config."""

    def __init__(self, port: int | None = None, extra_conf: str = "",
                 binary: str | None = None, persistent: bool = False) -> None:
        self.port = port or free_port()
        self.binary = binary or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._dir = tempfile.TemporaryDirectory(prefix="affectd-mosq-")
        self.conf = Path(self._dir.name) / "mosquitto.conf"
        self.extra_conf = extra_conf
        self.persistent = persistent
        self.base_conf: str | None = None
        """A whole config to run instead of the generated one (edge/lab/fleet.py); the
        broker then logs to `mosquitto.log` in its folder."""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def workdir(self) -> Path:
        """The broker's own folder (readable by the mosquitto user): put its TLS files here."""
        return Path(self._dir.name)

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists())

    def start(self) -> MosquittoBroker:
        # mosquitto started as root drops to its own user: let it read (and, persistent, write)
        Path(self._dir.name).chmod(0o777 if self.persistent else 0o755)
        persistence = (f"persistence true\npersistence_location {self._dir.name}/"
                       if self.persistent else "persistence false")
        lines = ["per_listener_settings false", "allow_anonymous true", persistence,
                 "log_dest stderr", "log_type error", f"listener {self.port} 127.0.0.1",
                 self.extra_conf]
        if self.base_conf is not None:
            self.conf.write_text(self.base_conf)
            with open(self.workdir / "mosquitto.log", "ab") as log:
                self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                             stdout=subprocess.DEVNULL, stderr=log)
        else:
            self.conf.write_text("\n".join(lines) + "\n")
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


class AmqttBroker:
    """amqtt's broker in a background thread with its own event loop."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="amqtt")
        self._broker: Any = None

    def start(self) -> AmqttBroker:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }
        self._thread.start()

        async def boot() -> Any:
            broker = Broker(config)
            await broker.start()
            return broker

        self._broker = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(15)
        if not wait_port(self.port):
            raise RuntimeError(f"amqtt did not start on port {self.port}")
        return self

    def close(self) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def start_embedded_broker(port: int | None = None) -> MosquittoBroker | AmqttBroker:
    """Mosquitto if installed, else amqtt."""
    if MosquittoBroker.available():
        return MosquittoBroker(port).start()
    return AmqttBroker(port).start()
