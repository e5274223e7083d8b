"""The wearable client on bleak, and the supervisor that keeps wearables streaming.

`WearableClient` connects to one device through bleak's public API (any
back-end: BlueZ on a Pi, or `BumbleClientBackend` against the emulators),
subscribes to its streams (an EDA sensor's skin temperature too, when it has
the Health Thermometer service), decodes every packet and hands `Samples` with
monotonic timestamps to a callback. Malformed packets are counted and dropped;
lost ECG samples (from the strap's timestamps) and lost EDA packets (from the
sequence numbers) are counted.

Each connection starts with a short scan for the device's advertisement: BlueZ
can only connect to a device it has recently seen (its cache forgets a strap
that was out of range), the scan gives the RSSI for `stats`, and the found
`BLEDevice` is handed to `BleakClient` so bleak does not scan a second time. A
Polar strap then gets its clock set to UTC (pftp.py): ECG timestamps become real
times, mapped onto the host's monotonic clock; if the strap refuses, or its
clock turns out to be far from the host's, timestamps are anchored on the
arrival of the first frame instead.

`Supervisor` runs the clients: reconnects with exponential backoff and jitter,
treats a connection that stays silent for `stall_s` as dead (a BlueZ quirk users
hit: connected but no notifications), retries the service discovery timeouts
BlueZ produces, and keeps per-device health for the `stats` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from bleak import BleakClient

from firmware_bridge import pftp
from firmware_bridge.decoders import (
    EDA_CONFIG,
    EDA_MEASUREMENT,
    MEASUREMENT_INTERVAL,
    PMD_CONTROL,
    PMD_DATA,
    PMD_START_ECG,
    TEMPERATURE_MEASUREMENT,
    DecodeError,
    PmdError,
    PmdStatus,
    decode_battery,
    decode_eda,
    decode_eda_config,
    decode_heart_rate,
    decode_measurement_interval,
    decode_pmd_ecg,
    decode_pmd_response,
    decode_temperature,
)
from firmware_bridge.samples import BackoffPolicy, Samples

log = logging.getLogger(__name__)
HR_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
ECG_FS = 130.0
CLOCK_TOLERANCE_S = 5.0
"""A frame stamped further than this from its arrival means the strap clock is wrong."""
DeviceKind = Literal["polar_h10", "heart_rate", "eda"]


class Stalled(RuntimeError):
    """Connected, but no notification for longer than the stall timeout."""


@dataclass
class DeviceHealth:
    address: str
    kind: str
    connected: bool = False
    battery: int | None = None
    contact: bool | None = None
    rssi: int | None = None
    """dBm of the last advertisement seen (BlueZ gives none while connected)."""
    clock_set: bool | None = None
    """Polar straps: whether the strap's clock was set (None: device has no clock)."""
    thermometer: bool | None = None
    """EDA sensors: whether it has the Health Thermometer service (skin temperature);
    None before the first connection and for other kinds."""
    packets: int = 0
    malformed: int = 0
    lost_samples: int = 0
    reconnects: int = 0
    stalls: int = 0
    last_seen: float | None = None
    """Monotonic time of the last notification."""
    gaps_s: list[float] = field(default_factory=list)
    """Lengths of the interruptions (disconnect to first notification again)."""


class WearableClient:
    def __init__(self, address: str, kind: DeviceKind, on_samples: Callable[[Samples], None],
                 backend: type | None = None, backend_kwargs: dict[str, Any] | None = None,
                 stall_s: float = 5.0, connect_timeout: float = 10.0,
                 scanner_backend: type | None = None) -> None:
        self.address = address
        self.kind = kind
        self.on_samples = on_samples
        self.backend = backend
        self.backend_kwargs = backend_kwargs or {}
        self.scanner_backend = scanner_backend
        self.stall_s = stall_s
        self.connect_timeout = connect_timeout
        self.health = DeviceHealth(address, kind)
        self._disconnected = asyncio.Event()
        self._ecg_next_ns: int | None = None
        self._ecg_offset: float | None = None
        self._strap_clock = False
        self._ecg_last_ts = -np.inf
        self._eda_seq: int | None = None
        self._eda_rate = 4.0
        self._eda_spp = 1
        self._temp_fs = 1.0
        self._down_since: float | None = None

    # -- packet handlers ------------------------------------------------------------
    def _seen(self) -> None:
        now = time.monotonic()
        if self._down_since is not None:
            self.health.gaps_s.append(now - self._down_since)
            self._down_since = None
        self.health.last_seen = now
        self.health.packets += 1

    def _decode(self, decoder: Callable[[bytes], Any], data: bytearray) -> Any:
        """The decoded packet, or None after counting a malformed one (then dropped)."""
        try:
            packet = decoder(bytes(data))
        except DecodeError:
            self.health.malformed += 1
            return None
        self._seen()
        return packet

    def _on_hr(self, data: bytearray) -> None:
        m = self._decode(decode_heart_rate, data)
        if m is None:
            return
        now = time.monotonic()
        self.health.contact = m.contact
        self.on_samples(Samples(now, "hr", 0.0, np.array([float(m.bpm)]), self.address))
        if m.rr_s:
            self.on_samples(Samples(now, "rr", 0.0, np.array(m.rr_s), self.address))

    def _on_ecg(self, data: bytearray) -> None:
        f = self._decode(decode_pmd_ecg, data)
        if f is None:
            return
        n = len(f.samples_uv)
        step = round(1e9 / ECG_FS)
        first_ns = f.timestamp_ns - (n - 1) * step
        if self._ecg_next_ns is not None:
            missing = round((first_ns - self._ecg_next_ns) / step)
            if missing > 0:
                self.health.lost_samples += missing
        self._ecg_next_ns = f.timestamp_ns + step
        now = time.monotonic()
        if self._ecg_offset is None:  # strap clock -> this host's monotonic clock
            if self._strap_clock:  # set to UTC by us: exact, the same across reconnects
                self._ecg_offset = now - time.time()  # decoded stamps are Unix time
            else:
                self._ecg_offset = now - f.timestamp_ns / 1e9
        ts = f.timestamp_ns / 1e9 + self._ecg_offset
        if self._strap_clock and abs(ts - now) > CLOCK_TOLERANCE_S:
            log.warning("%s: strap clock is %.1f s off the host's; anchoring on arrival",
                        self.address, ts - now)
            self._strap_clock = False
            self.health.clock_set = False
            # re-anchor on arrival, never stepping back behind what was already handed on
            ts = max(now, self._ecg_last_ts + n / ECG_FS)
            self._ecg_offset = ts - f.timestamp_ns / 1e9
        self._ecg_last_ts = ts
        self.on_samples(Samples(ts, "ecg", ECG_FS, np.array(f.samples_uv, float),
                                   self.address))

    def _on_eda(self, data: bytearray) -> None:
        p = self._decode(decode_eda, data)
        if p is None:
            return
        if self._eda_seq is not None:
            gap = (p.sequence - self._eda_seq - 1) & 0xFFFF
            self.health.lost_samples += gap * self._eda_spp
        self._eda_seq = p.sequence
        self.health.contact = p.contact
        self.on_samples(Samples(time.monotonic(), "eda", self._eda_rate,
                                   np.array(p.samples_us), self.address))

    def _on_temp(self, data: bytearray) -> None:
        m = self._decode(decode_temperature, data)
        if m is None:
            return
        self.on_samples(Samples(time.monotonic(), "temp", self._temp_fs,
                                np.array([m.celsius]), self.address))

    async def _start_thermometer(self, client: BleakClient) -> None:
        """Skin temperature from the optional Health Thermometer service of an EDA
        sensor (PROFILE.md): its Measurement Interval gives the rate (1 s when it is
        missing, unreadable or 0). A thermometer that cannot be subscribed to is left
        out (logged, `thermometer` false): the skin conductance streams on."""
        self.health.thermometer = False
        if client.services.get_characteristic(TEMPERATURE_MEASUREMENT) is None:
            return
        interval = 0
        try:
            interval = decode_measurement_interval(bytes(await client.read_gatt_char(
                MEASUREMENT_INTERVAL)))
        except Exception as exc:  # optional in the SIG service: fall back to 1 s
            log.debug("%s: no measurement interval (%s)", self.address, exc)
        self._temp_fs = 1.0 / interval if interval > 0 else 1.0
        try:
            await client.start_notify(TEMPERATURE_MEASUREMENT,
                                      lambda _c, d: self._on_temp(d))
        except Exception as exc:  # an optional extra must not cost the EDA stream
            log.warning("%s: skin temperature unavailable (%s); streaming without it",
                        self.address, exc)
            return
        self.health.thermometer = True

    # -- one connection ----------------------------------------------------------------
    async def _start_pmd(self, client: BleakClient) -> None:
        responses: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(PMD_CONTROL, lambda _c, d: responses.put_nowait(bytes(d)))
        await client.start_notify(PMD_DATA, lambda _c, d: self._on_ecg(d))
        await client.write_gatt_char(PMD_CONTROL, PMD_START_ECG, response=True)
        while True:
            r = decode_pmd_response(await asyncio.wait_for(responses.get(), 5.0))
            if r.op_code == PMD_START_ECG[0]:
                break
        if r.status not in (PmdStatus.SUCCESS, PmdStatus.ALREADY_IN_STATE):
            raise PmdError(r.status, r.op_code)

    async def _set_clock(self, client: BleakClient) -> None:
        """Set a Polar strap's clock to UTC through PFTP; on failure keep streaming."""
        self._ecg_next_ns = self._ecg_offset = None
        if client.services.get_characteristic(pftp.PFTP_MTU) is None:
            self.health.clock_set = None
            return
        answers: asyncio.Queue[bytes] = asyncio.Queue()
        try:
            await client.start_notify(pftp.PFTP_MTU, lambda _c, d: answers.put_nowait(bytes(d)))
            now = dt.datetime.now(dt.timezone.utc)
            message = pftp.query_message(pftp.QUERY_SET_LOCAL_TIME,
                                         pftp.encode_set_local_time(now))
            for frame in pftp.frames(message, max(20, client.mtu_size - 3)):
                await client.write_gatt_char(pftp.PFTP_MTU, frame, response=True)
            answer = pftp.parse_frame(await asyncio.wait_for(answers.get(), 5.0))
            if answer.error:
                raise pftp.PftpError(answer.error)
            self._strap_clock = True
        except Exception as exc:  # the clock is a refinement: stream without it
            log.warning("%s: could not set the strap clock: %s", self.address, exc)
        finally:
            with contextlib.suppress(Exception):
                await client.stop_notify(pftp.PFTP_MTU)
        self.health.clock_set = self._strap_clock

    async def _find(self) -> Any:
        """Scan for this device's advertisement; the `BLEDevice` to connect to."""
        from bleak import BleakScanner

        kwargs: dict[str, Any] = dict(self.backend_kwargs)
        if self.scanner_backend is not None:
            kwargs["backend"] = self.scanner_backend
        want = self.address.upper()

        def match(d: Any, ad: Any) -> bool:
            if str(d.address).upper() != want:
                return False
            self.health.rssi = int(ad.rssi) if ad.rssi is not None else None
            return True

        dev = await BleakScanner.find_device_by_filter(match, timeout=self.connect_timeout,
                                                       **kwargs)
        if dev is None:
            raise ConnectionError(f"{self.address}: not advertising (out of range or off?)")
        return dev

    async def run_once(self) -> None:
        """Connect, stream until the link drops or stalls; raises to tell why."""
        self._disconnected.clear()
        self._eda_seq = None
        if not self._strap_clock:  # with a set clock, samples lost while away are counted
            self._ecg_next_ns = self._ecg_offset = None
        kwargs: dict[str, Any] = dict(self.backend_kwargs)
        if self.backend is not None:
            kwargs["backend"] = self.backend
        target = await self._find() if self.scanner_backend is not None or \
            self.backend is None else self.address
        client = BleakClient(target,
                             disconnected_callback=lambda _c: self._disconnected.set(),
                             timeout=self.connect_timeout, **kwargs)
        await client.connect()
        try:
            self.health.connected = True
            try:
                self.health.battery = decode_battery(bytes(await client.read_gatt_char(
                    BATTERY_LEVEL)))
            except (DecodeError, Exception) as exc:  # battery is optional
                log.debug("%s: no battery level (%s)", self.address, exc)
            if self.kind in ("polar_h10", "heart_rate"):
                await client.start_notify(HR_MEASUREMENT, lambda _c, d: self._on_hr(d))
            if self.kind == "polar_h10":
                if not self._strap_clock:  # once per power cycle of the strap
                    await self._set_clock(client)
                await self._start_pmd(client)
            if self.kind == "eda":
                cfg = decode_eda_config(bytes(await client.read_gatt_char(EDA_CONFIG)))
                self._eda_rate, self._eda_spp = cfg.rate_hz, cfg.samples_per_packet
                await client.start_notify(EDA_MEASUREMENT, lambda _c, d: self._on_eda(d))
                await self._start_thermometer(client)
            self.health.last_seen = time.monotonic()
            while not self._disconnected.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._disconnected.wait(), 0.25)
                silent = time.monotonic() - (self.health.last_seen or 0.0)
                if silent > self.stall_s:
                    self.health.stalls += 1
                    raise Stalled(f"{self.address}: no data for {silent:.1f} s")
            raise ConnectionError(f"{self.address}: link lost")
        finally:
            self.health.connected = False
            self._down_since = self._down_since or time.monotonic()
            try:
                await client.disconnect()
            except Exception as exc:  # the link may already be gone
                log.debug("%s: disconnect: %s", self.address, exc)


async def find_wearable(service_uuid: str, timeout: float = 10.0, backend: type | None = None,
                        **backend_kwargs: Any) -> str | None:
    """Address of the first device advertising `service_uuid` (e.g. the EDA profile's
    service, or 0x180D for heart-rate straps), or None after `timeout` seconds."""
    from bleak import BleakScanner

    kwargs: dict[str, Any] = dict(backend_kwargs)
    if backend is not None:
        kwargs["backend"] = backend
    want = service_uuid.lower()
    if len(want) == 4:
        want = f"0000{want}-0000-1000-8000-00805f9b34fb"
    dev = await BleakScanner.find_device_by_filter(
        lambda _d, ad: want in [u.lower() for u in ad.service_uuids], timeout=timeout,
        service_uuids=[want], **kwargs)
    return None if dev is None else str(dev.address)


class Supervisor:
    """Keeps every client streaming: reconnect with backoff and jitter, forever."""

    def __init__(self, clients: list[WearableClient],
                 backoff: BackoffPolicy | None = None) -> None:
        self.clients = clients
        self.backoff = backoff or BackoffPolicy()

    async def _keep(self, c: WearableClient, stop: asyncio.Event) -> None:
        failures = 0
        first = True
        while not stop.is_set():
            if not first:
                c.health.reconnects += 1
            first = False
            started = time.monotonic()
            try:
                await c.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure path ends in a reconnect
                log.warning("%s: %s", c.address, exc)
            if time.monotonic() - started > 10 * self.backoff.min_s:
                failures = 0  # it had been streaming: start the backoff afresh
            delay = self.backoff.delay(failures)
            failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def run(self, stop: asyncio.Event) -> None:
        """Stream until `stop` is set, then disconnect everything."""
        tasks = [asyncio.create_task(self._keep(c, stop)) for c in self.clients]
        await stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def health(self) -> list[DeviceHealth]:
        return [c.health for c in self.clients]
