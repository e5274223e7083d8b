"""BLE wearables as a pipeline source: the firmware_bridge supervisor in a thread.

bleak is asyncio-based, the pipeline is threaded: `open` starts an event loop in
a background thread that runs `firmware_bridge.client.Supervisor` over the
configured devices (reconnecting with backoff, detecting stalls); decoded
`BioSamples` cross to the pipeline through a bounded queue that drops the
oldest. With `ble_backend = "emulated"` the same loop also runs Bumble
emulators of the listed devices, so affectd can be tried without hardware.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from edge.messages import BioSamples, SourceItem
from edge.settings import PhysioSettings
from edge.sources.base import Source, SourceError


class BleWearableSource(Source):
    name = "physio:ble"
    modality = "physio"

    def __init__(self, settings: PhysioSettings) -> None:
        super().__init__()
        self.settings = settings
        self._queue: queue.Queue[BioSamples] = queue.Queue(maxsize=2000)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.supervisor: Any = None
        self.dropped = 0

    def _push(self, s: BioSamples) -> None:
        try:
            self._queue.put_nowait(s)
        except queue.Full:
            self._queue.get_nowait()
            self.dropped += 1
            self._queue.put_nowait(s)

    async def _main(self, ready: threading.Event) -> None:
        from firmware_bridge.client import Supervisor, WearableClient

        self._stop = asyncio.Event()
        kwargs: dict[str, Any] = {}
        backend: type | None = None
        scanner: type | None = None
        emulators: list[Any] = []
        if self.settings.ble_backend == "emulated":
            from bumble.link import LocalLink

            from firmware_bridge.bumble_backend import BumbleClientBackend, BumbleScannerBackend
            from firmware_bridge.emulators import EmulatedEdaSensor, EmulatedPolarH10

            link = LocalLink()
            backend, kwargs = BumbleClientBackend, {"link": link}
            scanner = BumbleScannerBackend
            for d in self.settings.devices:
                kind, _, addr = d.partition("@")
                emu = EmulatedEdaSensor(link, addr) if kind == "eda" else \
                    EmulatedPolarH10(link, addr)
                await emu.start()
                emulators.append(emu)
        clients = [WearableClient(addr, kind, self._push, backend=backend,  # type: ignore[arg-type]
                                  backend_kwargs=kwargs, stall_s=self.settings.stall_s,
                                  scanner_backend=scanner)
                   for kind, _, addr in (d.partition("@") for d in self.settings.devices)]
        self.supervisor = Supervisor(clients)
        ready.set()
        await self.supervisor.run(self._stop)
        for emu in emulators:
            await emu.stop()

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
                        "last_seen_s": None if h.last_seen is None
                        else round(now - h.last_seen, 1)})
        return out
