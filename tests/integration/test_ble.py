"""The wearable client through bleak's public API (BleakClient with a Bumble back-end)
against emulated wearables on Bumble's virtual link: no mock of bleak or of our code.

Emulated time runs faster than the wall clock (time_scale) so a minute of ECG
streams in a few seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("bumble")
import itertools

from bumble.link import LocalLink

from edge.physio.synthetic import SyntheticPhysio
from firmware_bridge.bumble_backend import BumbleClientBackend, BumbleScannerBackend
from firmware_bridge.client import Supervisor, WearableClient
from firmware_bridge.emulators import EmulatedEdaSensor, EmulatedPolarH10
from firmware_bridge.samples import BackoffPolicy, Samples


def h10_signal() -> SyntheticPhysio:
    """The synthetic wearer's ECG at the strap's 130 Hz."""
    return SyntheticPhysio(ecg_fs=130.0, seed=0)


def eda_signal() -> SyntheticPhysio:
    """The synthetic wearer's skin conductance at the sensor's 4 Hz."""
    return SyntheticPhysio(eda_fs=4.0, seed=1)


class Sink:
    def __init__(self) -> None:
        self.items: list[Samples] = []

    def __call__(self, s: Samples) -> None:
        self.items.append(s)

    def values(self, kind: str) -> np.ndarray:
        parts = [s.values for s in self.items if s.kind == kind]
        return np.concatenate(parts) if parts else np.zeros(0)


def client(link: LocalLink, address: str, kind: str, sink: Sink,
           stall_s: float = 5.0) -> WearableClient:
    return WearableClient(address, kind, sink, backend=BumbleClientBackend,  # type: ignore[arg-type]
                          backend_kwargs={"link": link}, stall_s=stall_s)


async def run_for(sup: Supervisor, seconds: float, during: object = None) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    if during is not None:
        await during  # type: ignore[misc]
    else:
        await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 10)


async def fall_silent(sink: Sink, kind: str, counted: EmulatedPolarH10 | EmulatedEdaSensor,
                      *others: EmulatedPolarH10 | EmulatedEdaSensor) -> None:
    """Silence the emulators (well inside the client's 5-s stall limit) and let the
    packets already sent arrive, up to 4 s: until the sink holds every `kind` sample
    `counted` sent. A slow host (the emulated arm64 root) still had one in flight 0.2 s
    after the last send."""
    for emulator in (counted, *others):
        emulator.stall(30.0)
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and sink.values(kind).size < counted.sent_samples:
        await asyncio.sleep(0.05)


def stream_eda_sensor(during: Callable[[EmulatedEdaSensor], Awaitable[None]],
                     **sensor: Any) -> tuple[Sink, WearableClient, EmulatedEdaSensor]:
    """One emulated EDA sensor (emulated time 10x, extra settings `sensor`) streamed to
    a supervised client until `during(sensor)` returns (at most 30 s); then it falls
    silent and what it sent is let arrive (`fall_silent`)."""
    async def scenario() -> tuple[Sink, WearableClient, EmulatedEdaSensor]:
        link = LocalLink()
        eda = EmulatedEdaSensor(link, time_scale=10.0, signal=eda_signal(), **sensor)
        await eda.start()
        sink = Sink()
        c = client(link, eda.address, "eda", sink)

        async def then_silent() -> None:
            await asyncio.wait_for(during(eda), 30)
            await fall_silent(sink, "eda", eda)

        await run_for(Supervisor([c], BackoffPolicy(0.1, 0.5)), 0, then_silent())
        return sink, c, eda

    return asyncio.run(scenario())


def test_h10_and_eda_stream_together_without_loss() -> None:
    async def scenario() -> tuple[Sink, EmulatedPolarH10, EmulatedEdaSensor,
                                  list[WearableClient]]:
        link = LocalLink()
        h10 = EmulatedPolarH10(link, time_scale=20.0, signal=h10_signal())
        eda = EmulatedEdaSensor(link, time_scale=20.0, signal=eda_signal())
        await h10.start()
        await eda.start()
        sink = Sink()
        clients = [client(link, h10.address, "polar_h10", sink),
                   client(link, eda.address, "eda", sink)]

        async def until_60s() -> None:
            while h10.sent_samples < 60 * 130:
                await asyncio.sleep(0.05)
            await fall_silent(sink, "ecg", h10, eda)

        await run_for(Supervisor(clients, BackoffPolicy(0.1, 1.0)), 0, until_60s())
        return sink, h10, eda, clients

    sink, h10, _eda, (c_h10, c_eda) = asyncio.run(scenario())
    ecg = sink.values("ecg")
    assert ecg.size >= 60 * 130 and ecg.size == h10.sent_samples  # every sample arrived
    assert c_h10.health.lost_samples == 0 and c_h10.health.malformed == 0
    assert 200 < np.ptp(ecg) < 5000  # microvolts of a real-looking ECG
    rr = sink.values("rr")
    hr = sink.values("hr")
    assert hr.size >= 40 and rr.size >= hr.size  # RR intervals come with the HR notifications
    assert np.all((rr > 0.4) & (rr < 1.5))
    # each notification's RR intervals give its heart rate (the strap's own arithmetic);
    # paired per notification, as medians over a rest-to-stress ramp depend on how many
    # beats each notification carried, which a slow host changes
    h10_items = [s for s in sink.items if s.device == h10.address and s.kind in ("hr", "rr")]
    pairs = [(a.values[0], b.values) for a, b in itertools.pairwise(h10_items)
             if a.kind == "hr" and b.kind == "rr"]
    assert len(pairs) == hr.size
    assert all(abs(bpm - 60 / np.mean(r)) <= 1.0 for bpm, r in pairs)
    assert np.ptp(hr) > 10  # the wearer's rest-to-stress rise came through
    eda_v = sink.values("eda")
    # every packet after the subscription (the sensor streams from the connection on)
    assert eda_v.size >= 4 * 50 and c_eda.health.lost_samples == 0
    assert 0.5 < eda_v.mean() < 10  # microsiemens
    assert c_h10.health.battery == 87 and c_eda.health.contact is True
    assert c_eda.health.thermometer is False and sink.values("temp").size == 0  # none fitted
    ts = [s.ts for s in sink.items if s.kind == "ecg"]
    assert all(b > a for a, b in itertools.pairwise(ts))  # monotonic timestamps


def test_supervisor_reconnects_after_link_drop_and_stall() -> None:
    async def scenario() -> tuple[Sink, WearableClient, EmulatedPolarH10, float]:
        stall_end = 0.0
        link = LocalLink()
        h10 = EmulatedPolarH10(link, time_scale=4.0, signal=h10_signal())
        await h10.start()
        sink = Sink()
        c = client(link, h10.address, "polar_h10", sink, stall_s=1.0)
        backoff_max = 0.5

        async def faults() -> None:
            await asyncio.sleep(1.5)
            await h10.drop_link()  # the strap drops the connection
            await asyncio.sleep(2.0)
            h10.stall(3.0)  # connected, but silent: a BlueZ quirk
            nonlocal stall_end
            stall_end = time.monotonic() + 3.0
            await asyncio.sleep(5.0)

        await run_for(Supervisor([c], BackoffPolicy(0.1, backoff_max)), 0, faults())
        return sink, c, h10, stall_end

    sink, c, h10, stall_end = asyncio.run(scenario())
    h = c.health
    assert h.reconnects >= 2 and h.stalls >= 1
    assert h10.connections >= 3
    assert len(h.gaps_s) >= 2
    # back within the backoff bound plus the connection set-up: well under 2 s
    assert h.gaps_s[0] < 2.0, h.gaps_s
    after = [s for s in sink.items if s.kind == "ecg" and s.ts > stall_end]
    assert len(after) >= 5, "streaming did not resume after the faults"


def test_link_dropped_every_few_seconds_while_another_device_streams() -> None:
    """The H10 drops its link every 1.5 s; each time the supervisor reconnects it, the
    gap is in its health, and the EDA sensor on the same adapter is not disturbed."""
    async def scenario() -> tuple[Sink, list[WearableClient], EmulatedPolarH10,
                                  EmulatedEdaSensor, float]:
        link = LocalLink()
        h10 = EmulatedPolarH10(link, time_scale=4.0, signal=h10_signal())
        eda = EmulatedEdaSensor(link, time_scale=4.0, signal=eda_signal())
        await h10.start()
        await eda.start()
        sink = Sink()
        clients = [client(link, h10.address, "polar_h10", sink, stall_s=2.0),
                   client(link, eda.address, "eda", sink, stall_s=2.0)]
        last_drop = 0.0

        async def drops() -> None:
            nonlocal last_drop
            for _ in range(5):
                await asyncio.sleep(1.5)
                await h10.drop_link()
                last_drop = time.monotonic()
            await asyncio.sleep(2.0)

        await run_for(Supervisor(clients, BackoffPolicy(0.1, 0.5)), 0, drops())
        return sink, clients, h10, eda, last_drop

    sink, (c_h10, c_eda), h10, eda, last_drop = asyncio.run(scenario())
    assert c_h10.health.reconnects >= 5 and h10.connections >= 6
    assert len(c_h10.health.gaps_s) >= 5 and max(c_h10.health.gaps_s) < 2.0
    assert any(s.kind == "ecg" and s.ts > last_drop for s in sink.items), "no ECG after drops"
    # the other device streamed straight through: no reconnect, no lost sample
    assert c_eda.health.reconnects == 0 and c_eda.health.lost_samples == 0
    assert sink.values("eda").size == eda.sent_samples


def test_strap_clock_set_once_gives_real_timestamps_and_counts_the_gap() -> None:
    """The client finds the strap by scanning (RSSI from its advertisement), sets its
    clock to UTC through PFTP, and maps the strap's stamps onto the host clock: each
    frame's last sample is stamped at its arrival, and after the link drops the
    timeline goes on across the gap, whose samples are counted as lost."""
    arrivals: list[float] = []

    async def scenario() -> tuple[Sink, WearableClient, EmulatedPolarH10, float]:
        link = LocalLink()
        h10 = EmulatedPolarH10(link, time_scale=1.0, signal=h10_signal())
        await h10.start()
        sink = Sink()

        def on(s: Samples) -> None:
            arrivals.append(time.monotonic())
            sink(s)

        c = WearableClient(h10.address, "polar_h10", on, backend=BumbleClientBackend,  # type: ignore[arg-type]
                           backend_kwargs={"link": link}, scanner_backend=BumbleScannerBackend)
        gap = 0.0

        async def faults() -> None:
            nonlocal gap
            await asyncio.sleep(3.0)
            await h10.drop_link()
            t_drop = time.monotonic()
            while not c.health.connected or time.monotonic() - t_drop < 0.5:
                await asyncio.sleep(0.02)
            gap = time.monotonic() - t_drop
            await asyncio.sleep(3.0)

        await run_for(Supervisor([c], BackoffPolicy(1.0, 1.5)), 0, faults())
        return sink, c, h10, gap

    sink, c, h10, gap = asyncio.run(scenario())
    h = c.health
    assert h.clock_set is True and h10.clock_sets == 1  # set once, kept across the reconnect
    assert h.rssi is not None and -127 <= h.rssi <= 20
    ecg = [(s, t) for s, t in zip(sink.items, arrivals, strict=True) if s.kind == "ecg"]
    lag = np.array([t - s.ts for s, t in ecg])
    assert np.all(lag > -0.05) and np.all(lag < 0.5), lag  # stamped when measured
    ts = np.array([s.ts for s, _ in ecg])
    assert len(ts) > 5, (len(ts), h, gap)
    steps = np.diff(ts)
    hole = int(np.argmax(steps))
    assert steps[hole] > 0.8 * gap, (steps[hole], gap)  # the timeline spans the gap
    assert np.allclose(np.delete(steps, hole), 73 / 130, atol=0.02)
    assert h.reconnects == 1
    expected = (steps[hole] - 73 / 130) * 130
    assert abs(h.lost_samples - expected) <= 2, (h.lost_samples, expected)


def test_service_discovery_timeout_is_retried() -> None:
    """The strap accepts the connection but never answers service discovery (a BlueZ
    quirk): the connect times out, the supervisor backs off, tries again, and streams
    once discovery works."""
    async def scenario() -> tuple[Sink, WearableClient, EmulatedPolarH10, float]:
        link = LocalLink()
        h10 = EmulatedPolarH10(link, time_scale=4.0, signal=h10_signal())
        await h10.start()
        h10.hang_discovery(3.0)
        hang_end = time.monotonic() + 3.0
        sink = Sink()
        c = WearableClient(h10.address, "polar_h10", sink, backend=BumbleClientBackend,  # type: ignore[arg-type]
                           backend_kwargs={"link": link}, connect_timeout=1.0)

        async def until_streaming() -> None:
            while not any(s.kind == "ecg" for s in sink.items):
                await asyncio.sleep(0.05)

        await run_for(Supervisor([c], BackoffPolicy(0.1, 0.5)), 0,
                      asyncio.wait_for(until_streaming(), 20))
        return sink, c, h10, hang_end

    sink, c, h10, hang_end = asyncio.run(scenario())
    assert h10.connections >= 2  # connected during the hang, then again after it
    assert c.health.reconnects >= 1
    first_ecg = min(s.ts for s in sink.items if s.kind == "ecg")
    assert first_ecg >= hang_end - 0.1


def test_daemon_streams_emulated_wearables_and_reports_health(tmp_path: object) -> None:
    """physio.source = "ble" with the built-in emulators: the daemon's physiology comes
    through bleak, and stats carry per-device health."""
    from pathlib import Path

    from edge.lab.broker import MosquittoBroker
    from tests.conftest import DaemonProcess, Recorder, write_config

    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed")
    tmp = Path(str(tmp_path))
    with MosquittoBroker() as b:
        rec = Recorder(b.port)
        cfg = write_config(tmp / "a.toml", b.port, tmp / "state",
                           publish={"interval_s": 0.5, "stats_interval_s": 1.0},
                           physio={"backend": "emulated",
                                   "devices": ["polar_h10@A0:9E:1A:00:00:07",
                                               "eda@E0:DA:00:00:00:07"]})
        d = DaemonProcess(cfg)
        try:
            st = rec.wait_for("affectd/test/state", timeout=30, pred=lambda m: "hr_bpm" in
                              m.json().get("metrics", {}) and "scl_us" in m.json()["metrics"])
            stats = rec.wait_for("affectd/test/stats", timeout=20, pred=lambda m: len(
                m.json().get("wearables", [])) == 2 and all(
                w["connected"] for w in m.json()["wearables"]))
        finally:
            code, _, err = d.stop()
            rec.close()
    assert code == 0, err
    assert 40 < st[-1].json()["metrics"]["hr_bpm"] < 120
    w = {x["kind"]: x for x in stats[-1].json()["wearables"]}
    assert w["polar_h10"]["battery"] == 87 and w["polar_h10"]["lost_samples"] == 0
    assert w["eda"]["packets"] > 0
    assert w["polar_h10"]["clock_set"] is True and w["eda"]["clock_set"] is None
    assert w["eda"]["thermometer"] is True and w["polar_h10"]["thermometer"] is None
    assert all(isinstance(x["rssi"], int) and -127 <= x["rssi"] <= 20 for x in w.values())


def test_scan_by_service_uuid_and_malformed_packets_are_counted() -> None:
    from bumble.link import LocalLink

    from firmware_bridge.bumble_backend import BumbleScannerBackend
    from firmware_bridge.client import find_wearable
    from firmware_bridge.decoders import EDA_SERVICE

    async def scenario() -> tuple[str | None, str | None, WearableClient, Sink]:
        link = LocalLink()
        h10 = EmulatedPolarH10(link, "A0:9E:1A:00:00:42", time_scale=5.0, signal=h10_signal())
        eda = EmulatedEdaSensor(link, "E0:DA:00:00:00:42", time_scale=5.0, signal=eda_signal())
        await h10.start()
        await eda.start()
        found_eda = await find_wearable(EDA_SERVICE, 5.0, BumbleScannerBackend, link=link)
        found_hr = await find_wearable("180d", 5.0, BumbleScannerBackend, link=link)
        sink = Sink()
        c = client(link, eda.address, "eda", sink)

        async def inject() -> None:
            while sink.values("eda").size == 0:  # streaming
                await asyncio.sleep(0.05)
            for bad in (b"", b"\xff\x00", b"\x01\x00\x00\x00\x00\x00\x00\x05\x01"):
                await eda.send_raw(eda.measurement, bad)
            await asyncio.sleep(1.0)

        await run_for(Supervisor([c], BackoffPolicy(0.1, 0.5)), 0, inject())
        return found_eda, found_hr, c, sink

    found_eda, found_hr, c, sink = asyncio.run(scenario())
    assert found_eda == "E0:DA:00:00:00:42" and found_hr == "A0:9E:1A:00:00:42"
    assert c.health.malformed == 3  # counted and dropped
    assert c.health.reconnects == 0  # ... without disturbing the stream
    assert sink.values("eda").size > 8


def test_eda_sensor_with_a_thermometer_streams_skin_temperature() -> None:
    """The EDA sensor's optional Health Thermometer service: the client reads its
    Measurement Interval (2 s here) for the rate, takes the indications in as "temp"
    samples equal to what the wearer's skin had, and counts a malformed one without
    disturbing either stream."""
    from firmware_bridge.decoders import TemperatureMeasurement, encode_temperature

    readings: list[float] = []

    class Skin:
        def __init__(self) -> None:
            self.wearer = eda_signal()

        def skin_temp(self, t: float) -> float:
            readings.append(round(self.wearer.skin_temp(t), 2))  # the FLOAT's 0.01 °C
            return readings[-1]

    async def stream(eda: EmulatedEdaSensor) -> None:
        while eda.sent_temperatures < 10:
            await asyncio.sleep(0.05)
        for bad in (b"\x08\x6d\x01\x00\xff", b"\x00\x6d"):
            await eda.send_raw(eda.temperature, bad)
        await eda.device.indicate_subscribers(eda.temperature, encode_temperature(
            TemperatureMeasurement(float("nan"), None, 2)))  # "not a number"
        while eda.sent_temperatures < 20:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)

    sink, c, eda = stream_eda_sensor(stream, thermometer=Skin(), temp_interval_s=2)
    temps = [s for s in sink.items if s.kind == "temp"]
    assert c.health.thermometer is True and c.health.malformed == 2
    assert c.health.reconnects == 0
    assert all(s.fs == 0.5 and s.values.size == 1 for s in temps)  # one reading per 2 s
    values = np.concatenate([s.values for s in temps])
    assert np.isnan(values).sum() == 1  # passed on as missing, not dropped or invented
    got = values[~np.isnan(values)]
    assert got.size >= 20
    # the same readings in order; an indication sent while the client was still
    # subscribing (the first one or two, on a slow host) never reached it
    assert any(np.allclose(got, readings[k:k + got.size], atol=1e-6) for k in range(3)
               if len(readings) >= k + got.size)
    assert 30.0 < got.mean() < 34.0
    # the EDA stream is undisturbed: every sample sent arrived
    assert c.health.lost_samples == 0 and sink.values("eda").size == eda.sent_samples


def test_scan_names_each_wearable_in_range_with_its_config_entry() -> None:
    """`scan_wearables` (what `affectd scan` prints) through bleak's scanner on the
    virtual radio: the H10 and the EDA sensor come back with the kinds and addresses
    `[physio] devices` wants; a device that is no wearable is left out."""
    from bumble.controller import Controller
    from bumble.device import Device
    from bumble.hci import Address
    from bumble.host import Host

    from firmware_bridge.bumble_backend import advertising_data
    from firmware_bridge.scan import FoundWearable, kind_of, scan_wearables

    async def scenario() -> list[FoundWearable]:
        link = LocalLink()
        h10 = EmulatedPolarH10(link, "A0:9E:1A:00:00:51", signal=h10_signal())
        eda = EmulatedEdaSensor(link, "E0:DA:00:00:00:51", signal=eda_signal())
        other = Device("Kitchen scale", Address("C0:FF:EE:00:00:51"))
        other.host = Host()
        other.host.controller = Controller("ctl-scale", link=link)
        other.advertising_data = advertising_data("Kitchen scale", "181D")  # weight scale
        for emu in (h10, eda):
            await emu.start()
        await other.power_on()
        await other.start_advertising(auto_restart=True)
        found = await scan_wearables(1.5, BumbleScannerBackend, link=link)
        for emu in (h10, eda):
            await emu.stop()
        await other.power_off()
        return found

    found = asyncio.run(scenario())
    assert sorted(f.device for f in found) == ["eda@E0:DA:00:00:00:51",
                                               "polar_h10@A0:9E:1A:00:00:51"]
    assert {f.name for f in found} == {"Polar H10 EMU", "affectd-eda EMU"}
    assert all(f.rssi is not None for f in found)
    assert kind_of("Polar H9 1234", ["0000180d-0000-1000-8000-00805f9b34fb"]) == "heart_rate"
    assert kind_of("Polar H10 ABCD1234", []) == "polar_h10"
    assert kind_of(None, ["0000181d-0000-1000-8000-00805f9b34fb"]) is None


def test_scan_without_a_bluetooth_adapter_says_so() -> None:
    """`affectd scan` on a machine without Bluetooth (this one, CI): exit 69 with a
    message that names the missing adapter, not a traceback."""
    import subprocess
    import sys
    from pathlib import Path

    if any(Path("/sys/class/bluetooth").glob("hci*")):
        pytest.skip("this machine has a Bluetooth adapter")
    res = subprocess.run([sys.executable, "-m", "edge", "scan", "--seconds", "1"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 69, res.stderr[-2000:]
    assert "no usable Bluetooth adapter" in res.stderr and "Traceback" not in res.stderr


def test_a_thermometer_that_cannot_be_subscribed_to_leaves_the_eda_streaming() -> None:
    """An EDA sensor whose thermometer characteristic cannot be subscribed to (firmware
    fault): the client logs it, says `thermometer` false, and the skin conductance
    streams without a reconnect."""
    async def stream(eda: EmulatedEdaSensor) -> None:
        while eda.sent_samples < 4 * 30:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)

    sink, c, eda = stream_eda_sensor(stream, thermometer=eda_signal(), thermometer_fault=True)
    assert c.health.thermometer is False and c.health.reconnects == 0
    assert sink.values("temp").size == 0
    assert eda.sent_samples >= 4 * 30 and c.health.lost_samples == 0
    assert sink.values("eda").size == eda.sent_samples  # every sample sent arrived
