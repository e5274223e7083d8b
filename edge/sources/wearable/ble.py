"""Wearable back-end "ble": BLE wearables through `firmware_bridge`, in a thread.

bleak is asyncio-based, the pipeline is threaded: `open` starts an event loop in
a background thread that runs `firmware_bridge.client.Supervisor` over the
configured devices (reconnecting with backoff, detecting stalls); the library's
`Samples` are adapted to the daemon's `BioSamples` and cross to the pipeline
through a bounded queue that drops the oldest. The lab's "emulated" back-end
(`edge/lab/wearables.py`) is this source on Bumble emulators of the devices.
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from edge.messages import BioSamples, SourceItem
from edge.settings import ConfigError, PhysioSettings
from edge.sources.base import Source, SourceError

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
DEVICE_KINDS = ("polar_h10", "heart_rate", "eda")


@dataclass(frozen=True)
class BleSettings(PhysioSettings):
    devices: tuple[str, ...] = ()
    """BLE wearables as "kind@address", kind one of polar_h10, heart_rate, eda."""
    stall_s: float = field(default=5.0, metadata={"min": 0.5, "max": 600.0})
    """A wearable connected but silent for this long is reconnected."""
    backoff_min_s: float = field(default=0.5, metadata={"min": 0.01, "max": 600.0})
    """First reconnect delay (doubles, with jitter, up to `backoff_max_s`)."""
    backoff_max_s: float = field(default=30.0, metadata={"min": 0.01, "max": 3600.0})
    """Longest reconnect delay."""

    def check(self, section: str) -> None:
        if not self.devices:
            raise ConfigError(f"{section}.devices", f'required for backend "{self.backend}"')
        for i, d in enumerate(self.devices):
            kind, _, addr = d.partition("@")
            if kind not in DEVICE_KINDS or not _MAC.match(addr):
                want = '"polar_h10|heart_rate|eda@AA:BB:CC:DD:EE:FF"'
                raise ConfigError(f"{section}.devices[{i}]", f"expected {want}, got {d!r}")
        if self.backoff_max_s < self.backoff_min_s:
            raise ConfigError(f"{section}.backoff_max_s", "must be >= backoff_min_s")


class BleWearableSource(Source[BleSettings]):
    """The devices of `devices`, kept streaming by the library's supervisor."""

    name = "physio:ble"
    modality = "physio"

    def __init__(self, settings: BleSettings) -> None:
        super().__init__(settings)
        self._queue: queue.Queue[BioSamples] = queue.Queue(maxsize=2000)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.supervisor: Any = None
        self.dropped = 0

    def _push(self, samples: Any) -> None:
        """Adapt one of the library's `Samples` to the daemon's message and queue it."""
        s = BioSamples(samples.ts, samples.kind, samples.fs, samples.values, samples.device)
        try:
            self._queue.put_nowait(s)
        except queue.Full:
            self._queue.get_nowait()
            self.dropped += 1
            self._queue.put_nowait(s)

    async def start_radio(self) -> dict[str, Any]:
        """The `WearableClient` keyword arguments that choose bleak's back-end (none:
        the system's BlueZ); a subclass may start emulators here."""
        return {}

    async def stop_radio(self) -> None:
        """Undo `start_radio`."""

    async def _main(self, ready: threading.Event) -> None:
        from firmware_bridge.client import Supervisor, WearableClient
        from firmware_bridge.samples import BackoffPolicy

        self._stop = asyncio.Event()
        radio = await self.start_radio()
        clients = [WearableClient(addr, kind, self._push, stall_s=self.settings.stall_s,  # type: ignore[arg-type]
                                  **radio)
                   for kind, _, addr in (d.partition("@") for d in self.settings.devices)]
        self.supervisor = Supervisor(clients, BackoffPolicy(self.settings.backoff_min_s,
                                                            self.settings.backoff_max_s))
        ready.set()
        await self.supervisor.run(self._stop)
        await self.stop_radio()

    def open(self) -> None:
        try:
            import bleak  # noqa: F401
        except ImportError as exc:
            raise SourceError(f"{self.name}: bleak is not installed ({exc})") from None
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            self._loop.run_until_complete(self._main(ready))

        self._thread = threading.Thread(target=run, name="ble", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise SourceError(f"{self.name}: BLE stack did not start")

    def read(self) -> list[SourceItem]:
        items: list[SourceItem] = []
        try:
            items.append(self._queue.get(timeout=0.5))
            while len(items) < 64:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return items

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def health(self) -> list[dict[str, Any]]:
        """Per-device health for the stats topic (kinds and counters; no addresses)."""
        if self.supervisor is None:
            return []
        out = []
        import time

        now = time.monotonic()
        for h in self.supervisor.health():
            out.append({"kind": h.kind, "connected": h.connected, "battery": h.battery,
                        "contact": h.contact, "packets": h.packets,
                        "lost_samples": h.lost_samples, "malformed": h.malformed,
                        "reconnects": h.reconnects, "stalls": h.stalls, "rssi": h.rssi,
                        "clock_set": h.clock_set,
                        "thermometer": h.thermometer,
                        "last_seen_s": None if h.last_seen is None
                        else round(now - h.last_seen, 1)})
        return out
