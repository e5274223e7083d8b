"""Emulated wearables on Bumble: a Polar H10 (Heart Rate Service with RR, battery, PMD
ECG at 130 Hz) and an EDA sensor of our profile (PROFILE.md; with a thermometer, the
Health Thermometer service's skin temperature too), as GATT servers on virtual
controllers attached to a Bumble `LocalLink`.

The signals come from a generator handed to each emulator (`EcgSignal`, `EdaSignal`,
`TemperatureSignal`;
the daemon's demo passes its synthetic wearer, `edge/physio/synthetic.py`).
The H10's clock starts at the firmware's default time (2019-01-01) and runs on
emulated time; the PSFTP service answers the set-local-time query (pftp.py) as
the real strap does, after which ECG timestamps follow the time it was given.
`time_scale` runs emulated time faster than the wall clock so tests can stream
minutes of signal in seconds. Faults for tests: `drop_link()` disconnects the
central; `stall(seconds)` keeps the link up but stops notifying;
`hang_discovery(seconds)` leaves GATT service discovery unanswered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from bumble.controller import Controller
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink

from firmware_bridge import pftp
from firmware_bridge.decoders import (
    EDA_CONFIG,
    EDA_MEASUREMENT,
    EDA_SERVICE,
    HTS_SERVICE,
    MEASUREMENT_INTERVAL,
    PMD_CONTROL,
    PMD_DATA,
    PMD_SERVICE,
    POLAR_EPOCH_NS,
    TEMPERATURE_MEASUREMENT,
    DecodeError,
    EdaConfig,
    EdaPacket,
    HeartRateMeasurement,
    PmdStatus,
    TemperatureMeasurement,
    encode_eda,
    encode_eda_config,
    encode_heart_rate,
    encode_pmd_ecg,
    encode_temperature,
)

P = Characteristic.Properties
ECG_FS = 130
ECG_FRAME = 73  # samples per PMD notification, as the H10 sends at 130 Hz
DEFAULT_CLOCK_NS = 599_616_000 * 1_000_000_000  # 2019-01-01, H10 firmware 3.1.1



class EcgSignal(Protocol):
    """What a heart-rate strap emulator streams: ECG in µV at 130 Hz and its beat times."""

    def ecg(self, t0: float, n: int) -> npt.NDArray[np.float64]:
        """`n` ECG samples from time `t0` (s)."""
        ...

    def beat_times(self) -> npt.NDArray[np.float64]:
        """Times (s) of the beats generated so far (the strap's RR intervals)."""
        ...


class EdaSignal(Protocol):
    """What the EDA sensor emulator streams: skin conductance in µS."""

    def eda(self, t0: float, n: int) -> npt.NDArray[np.float64]:
        """`n` EDA samples from time `t0` (s) at the sensor's rate."""
        ...


class TemperatureSignal(Protocol):
    """What the EDA sensor's thermometer measures: skin temperature in °C."""

    def skin_temp(self, t: float) -> float:
        """The reading at time `t` (s); successive calls move forward in time."""
        ...


class _Emulator:
    def __init__(self, link: LocalLink, address: str, name: str, time_scale: float) -> None:
        self.address = address
        self.time_scale = time_scale
        self.device = Device(name, Address(address))
        self.device.host = Host()
        self.device.host.controller = Controller(f"ctl-{name}", link=link)
        self.device.on("connection", self._on_connection)
        self.connection: Connection | None = None
        self.connections = 0
        self._stall_until = 0.0
        self._hang_until = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        server = self.device.gatt_server
        answer_discovery = server.on_att_read_by_group_type_request

        def discovery(bearer: Any, request: Any) -> Any:
            if time.monotonic() < self._hang_until:
                return None  # BlueZ users know this one: the services never resolve
            return answer_discovery(bearer, request)

        server.on_att_read_by_group_type_request = discovery
        self.battery = Characteristic("2A19", P.READ | P.NOTIFY, Characteristic.READABLE,
                                      bytes([87]))

    def _on_connection(self, conn: Connection) -> None:
        self.connection = conn
        self.connections += 1
        conn.on("disconnection", lambda _r: self._on_disconnection())

    def _on_disconnection(self) -> None:
        self.connection = None
        self.on_disconnected()

    def on_disconnected(self) -> None:
        """Stop streaming; subclasses override."""

    advertised_service = "180D"

    async def start(self) -> None:
        from firmware_bridge.bumble_backend import advertising_data

        self.device.advertising_data = advertising_data(self.device.name,
                                                        self.advertised_service)
        await self.device.power_on()
        await self.device.start_advertising(auto_restart=True)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.device.power_off()

    async def drop_link(self) -> None:
        if self.connection is not None:
            await self.connection.disconnect()

    async def send_raw(self, characteristic: Characteristic[Any], data: bytes) -> None:
        """Notify (or indicate, on an indicate-only characteristic) arbitrary bytes
        (malformed-packet tests)."""
        if characteristic.properties & P.NOTIFY:
            await self.device.notify_subscribers(characteristic, data)
        else:
            await self.device.indicate_subscribers(characteristic, data)

    def hang_discovery(self, seconds: float) -> None:
        """Accept connections but leave service discovery unanswered for `seconds`."""
        self._hang_until = time.monotonic() + seconds

    def stall(self, seconds: float) -> None:
        self._stall_until = time.monotonic() + seconds

    @property
    def stalled(self) -> bool:
        return time.monotonic() < self._stall_until

    def subscribed(self, characteristic: Characteristic) -> bool:
        """Whether a connected client has turned on notifications or indications of
        `characteristic` (its CCCD): Bumble sends them to such clients only."""
        return any((cccds.get(characteristic.handle) or b"\0")[0] & 0x03
                   for cccds in self.device.gatt_server.subscribers.values())

    async def _sleep(self, emulated_s: float) -> None:
        await asyncio.sleep(emulated_s / self.time_scale)


class EmulatedPolarH10(_Emulator):
    """HRS 0x180D with RR, Battery 0x180F, and PMD ECG streaming at 130 Hz."""

    def __init__(self, link: LocalLink, address: str = "A0:9E:1A:00:00:01",
                 time_scale: float = 1.0, *, signal: EcgSignal) -> None:
        super().__init__(link, address, "Polar H10 EMU", time_scale)
        self.gen = signal
        self.hr = Characteristic("2A37", P.NOTIFY, Characteristic.READABLE, b"\x00\x00")
        control = CharacteristicValue(read=lambda _c: bytes([0x0F, 0x05]),
                                      write=self._on_control)
        self.pmd_cp: Characteristic[bytes] = Characteristic(
            PMD_CONTROL, P.READ | P.WRITE | P.INDICATE,
            Characteristic.READABLE | Characteristic.WRITEABLE, control)
        self.pmd_data = Characteristic(PMD_DATA, P.NOTIFY, Characteristic.READABLE, b"")
        self.pftp_mtu: Characteristic[bytes] = Characteristic(
            pftp.PFTP_MTU, P.WRITE | P.NOTIFY, Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_pftp))
        self.device.add_services([Service("180D", [self.hr]), Service("180F", [self.battery]),
                                  Service(PMD_SERVICE, [self.pmd_cp, self.pmd_data]),
                                  Service(pftp.PFTP_SERVICE, [self.pftp_mtu])])
        self.sent_samples = 0
        self._ecg_task: asyncio.Task[None] | None = None
        self._hr_task: asyncio.Task[None] | None = None
        self._t = 0.0  # emulated seconds of signal produced
        self._clock_ns, self._clock_t = DEFAULT_CLOCK_NS, 0.0  # strap clock at emulated t
        self._born = time.monotonic()
        self._pftp_in = pftp.Reassembler()
        self.clock_sets = 0

    def _now(self) -> float:
        """Emulated seconds since the strap was switched on."""
        return (time.monotonic() - self._born) * self.time_scale

    def strap_ns(self, t: float) -> int:
        """The strap's clock (ns since 2000-01-01) at emulated time `t`."""
        return self._clock_ns + round((t - self._clock_t) * 1e9)

    def _on_pftp(self, conn: Connection, value: bytes) -> None:
        error = 0
        try:
            message = self._pftp_in.feed(bytes(value))
            if message is None:
                return
            query, params = pftp.parse_query(message)
            if query == pftp.QUERY_SET_LOCAL_TIME:
                when, _tz = pftp.decode_set_local_time(params)
                self._clock_ns, self._clock_t = pftp.polar_ns(when), self._now()
                self.clock_sets += 1
            else:
                error = 201  # not implemented in the emulator
        except DecodeError:
            error = 102  # invalid parameter
        asyncio.get_running_loop().create_task(
            self.device.notify_subscriber(conn, self.pftp_mtu, pftp.response_frame(error)))

    def _on_connection(self, conn: Connection) -> None:
        super()._on_connection(conn)
        self._hr_task = asyncio.get_running_loop().create_task(self._stream_hr())

    def on_disconnected(self) -> None:
        for task in (self._ecg_task, self._hr_task):
            if task is not None:
                task.cancel()
        self._ecg_task = self._hr_task = None

    def _on_control(self, conn: Connection, value: bytes) -> None:
        op = value[0] if value else 0
        mtype = value[1] if len(value) > 1 else 0
        status = PmdStatus.SUCCESS
        if op == 0x02 and mtype == 0x00:
            if self._ecg_task is not None:
                status = PmdStatus.ALREADY_IN_STATE
            else:
                # the strap's clock ran on while nothing streamed: samples resume at "now"
                self._t = max(self._t, self._now())
                self._ecg_task = asyncio.get_running_loop().create_task(self._stream_ecg())
        elif op == 0x03 and mtype == 0x00:
            if self._ecg_task is not None:
                self._ecg_task.cancel()
                self._ecg_task = None
        elif op == 0x01:
            pass
        elif op in (0x02, 0x03, 0x01):
            status = PmdStatus.INVALID_MEASUREMENT_TYPE
        else:
            status = PmdStatus.INVALID_OP_CODE
        reply = bytes([0xF0, op, mtype, int(status), 0x00])
        asyncio.get_running_loop().create_task(
            self.device.indicate_subscriber(conn, self.pmd_cp, reply))

    async def _stream_ecg(self) -> None:
        while self.connection is not None:
            await self._sleep(ECG_FRAME / ECG_FS)
            samples = self.gen.ecg(self._t, ECG_FRAME)
            self._t += ECG_FRAME / ECG_FS
            if self.stalled:
                continue  # the strap keeps measuring but sends nothing
            ts = POLAR_EPOCH_NS + self.strap_ns(self._t)  # the encoder takes Unix ns
            await self.device.notify_subscribers(
                self.pmd_data, encode_pmd_ecg(ts, [int(v) for v in samples]))
            self.sent_samples += ECG_FRAME

    async def _stream_hr(self) -> None:
        last = 0.0
        while self.connection is not None:
            await self._sleep(1.0)
            now = self._t if self._ecg_task is not None else last + 1.0
            beats = self.gen.beat_times()
            start = max(last, now - 2.0)  # at most 2 s of beats per notification
            window = beats[(beats > start) & (beats <= now)]
            prev = beats[beats <= start]  # the beat before the first one sent: its RR
            times = np.concatenate([prev[-1:], window])
            rr = tuple(float(x) for x in np.diff(times))
            bpm = round(60.0 / np.mean(rr)) if rr else 0
            last = now
            if self.stalled or not rr:
                continue
            await self.device.notify_subscribers(
                self.hr, encode_heart_rate(HeartRateMeasurement(bpm, True, None, rr)))


class EmulatedEdaSensor(_Emulator):
    """The affectd EDA profile: 4 Hz, 4 samples per notification, sequence numbers."""

    advertised_service = EDA_SERVICE

    def __init__(self, link: LocalLink, address: str = "E0:DA:00:00:00:01",
                 time_scale: float = 1.0, rate_hz: float = 4.0,
                 samples_per_packet: int = 4, *, signal: EdaSignal,
                 thermometer: TemperatureSignal | None = None,
                 temp_interval_s: int = 1, thermometer_fault: bool = False) -> None:
        """`thermometer`: adds the Health Thermometer service (skin temperature every
        `temp_interval_s` seconds, indicated; Measurement Interval readable);
        `thermometer_fault`: its measurement cannot be subscribed to (a firmware bug:
        the characteristic lost its indicate property)."""
        super().__init__(link, address, "affectd-eda EMU", time_scale)
        self.gen = signal
        self.config = EdaConfig(1, rate_hz, samples_per_packet)
        self.measurement = Characteristic(EDA_MEASUREMENT, P.NOTIFY, Characteristic.READABLE,
                                          b"")
        cfg = Characteristic(EDA_CONFIG, P.READ, Characteristic.READABLE,
                             encode_eda_config(self.config))
        services = [Service(EDA_SERVICE, [self.measurement, cfg]),
                    Service("180F", [self.battery])]
        self.thermometer = thermometer
        self.temp_interval_s = temp_interval_s
        self.temperature = Characteristic(TEMPERATURE_MEASUREMENT,
                                          P.READ if thermometer_fault else P.INDICATE,
                                          Characteristic.READABLE, b"")
        if thermometer is not None:
            interval = Characteristic(MEASUREMENT_INTERVAL, P.READ, Characteristic.READABLE,
                                      temp_interval_s.to_bytes(2, "little"))
            services.append(Service(HTS_SERVICE, [self.temperature, interval]))
        self.device.add_services(services)
        self.sequence = 0
        self.sent_samples = 0  # samples notified to a subscribed client (sent, not dropped)
        self.sent_temperatures = 0  # indications sent to a subscribed client
        self._t = 0.0
        self._tasks_on_link: list[asyncio.Task[None]] = []

    def _on_connection(self, conn: Connection) -> None:
        super()._on_connection(conn)
        loop = asyncio.get_running_loop()
        self._tasks_on_link = [loop.create_task(self._stream())]
        if self.thermometer is not None:
            self._tasks_on_link.append(loop.create_task(self._stream_temperature()))

    def on_disconnected(self) -> None:
        for task in self._tasks_on_link:
            task.cancel()
        self._tasks_on_link = []

    async def _stream_temperature(self) -> None:
        assert self.thermometer is not None
        t = 0.0
        while self.connection is not None:
            await self._sleep(self.temp_interval_s)
            t = max(t + self.temp_interval_s, self._t)
            reading = self.thermometer.skin_temp(t)
            if self.stalled or not self.subscribed(self.temperature):
                continue
            await self.device.indicate_subscribers(
                self.temperature, encode_temperature(TemperatureMeasurement(reading, None, 2)))
            self.sent_temperatures += 1

    async def _stream(self) -> None:
        n = self.config.samples_per_packet
        while self.connection is not None:
            await self._sleep(n / self.config.rate_hz)
            values = self.gen.eda(self._t, n)
            t_ms = round(self._t * 1000)
            self._t += n / self.config.rate_hz
            seq = self.sequence
            self.sequence = (self.sequence + 1) & 0xFFFF
            if self.stalled or not self.subscribed(self.measurement):
                continue
            pkt = EdaPacket(seq, t_ms, True, False, tuple(float(v) for v in values))
            await self.device.notify_subscribers(self.measurement, encode_eda(pkt))
            self.sent_samples += n


