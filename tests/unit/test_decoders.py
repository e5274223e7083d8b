"""firmware_bridge decoders: every Heart Rate Measurement flag combination, every PMD
status code, Polar's ECG test vector, multi-frame and truncated packets, the EDA
profile's example, the Health Thermometer's readings (°C, °F, not a number, every flag
combination), and random bytes (hypothesis) that must never escape as
anything but DecodeError."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import pftp
from firmware_bridge.decoders import (
    PMD_START_ECG,
    DecodeError,
    EdaConfig,
    EdaPacket,
    HeartRateMeasurement,
    PmdStatus,
    TemperatureMeasurement,
    decode_battery,
    decode_eda,
    decode_eda_config,
    decode_float11073,
    decode_heart_rate,
    decode_measurement_interval,
    decode_pmd_ecg,
    decode_pmd_features,
    decode_pmd_response,
    decode_temperature,
    encode_eda,
    encode_eda_config,
    encode_heart_rate,
    encode_pmd_ecg,
    encode_temperature,
)


@pytest.mark.parametrize("flags", range(32))
def test_every_heart_rate_flag_combination(flags: int) -> None:
    body = struct.pack("<H", 301) if flags & 1 else bytes([72])
    if flags & 0x08:
        body += struct.pack("<H", 1234)
    rr = (1024, 1000, 980) if flags & 0x10 else ()
    body += struct.pack(f"<{len(rr)}H", *rr)
    m = decode_heart_rate(bytes([flags]) + body)
    assert m.bpm == (301 if flags & 1 else 72)
    assert m.contact == (bool(flags & 0x02) if flags & 0x04 else None)
    assert m.energy_kj == (1234 if flags & 0x08 else None)
    assert m.rr_s == tuple(v / 1024 for v in rr)
    # a packet cut inside a field is refused, never mis-read
    data = bytes([flags]) + body
    fields = [2 if flags & 1 else 1] + ([2] if flags & 0x08 else []) + [2] * len(rr)
    ends = list(itertools.accumulate([1, *fields]))
    for cut in range(1, len(data)):
        if cut not in ends:
            with pytest.raises(DecodeError):
                decode_heart_rate(data[:cut])


def test_heart_rate_roundtrip() -> None:
    for bpm, contact, energy, rr in itertools.product((60, 300), (None, True, False),
                                                      (None, 5), ((), (0.8, 0.81))):
        m = HeartRateMeasurement(bpm, contact, energy, rr)
        back = decode_heart_rate(encode_heart_rate(m))
        assert back.bpm == bpm and back.contact == contact and back.energy_kj == energy
        assert all(abs(a - b) < 1 / 1024 for a, b in zip(back.rr_s, rr, strict=True))


def test_battery() -> None:
    assert decode_battery(b"\x64") == 100
    for bad in (b"", b"\x65", b"\x01\x02"):
        with pytest.raises(DecodeError):
            decode_battery(bad)


@pytest.mark.parametrize("status", list(PmdStatus))
def test_every_pmd_status(status: PmdStatus) -> None:
    r = decode_pmd_response(bytes([0xF0, 0x02, 0x00, int(status), 0x00]))
    assert r.status is status and r.op_code == 2 and r.measurement_type == 0
    assert r.ok == (status == PmdStatus.SUCCESS)


def test_pmd_response_errors_and_settings() -> None:
    for bad in (b"", b"\xf0\x02", b"\xf1\x02\x00\x00", b"\xf0\x02\x00\x0e"):
        with pytest.raises(DecodeError):
            decode_pmd_response(bad)
    r = decode_pmd_response(bytes.fromhex("f00100000000018200010e00"))
    assert r.ok and r.parameters == bytes.fromhex("00018200010e00")


def test_pmd_features_and_start_command() -> None:
    assert decode_pmd_features(bytes([0x0F, 0b00000101])) == {"ecg", "acc"}
    with pytest.raises(DecodeError):
        decode_pmd_features(b"\x0e\x01")
    assert bytes([0x02, 0x00, 0x00, 0x01, 0x82, 0x00, 0x01, 0x01, 0x0E, 0x00]) == PMD_START_ECG


def test_pmd_ecg_polar_test_vector() -> None:
    frame = decode_pmd_ecg(bytes(10) + bytes.fromhex("0280ff028000"))
    assert frame.samples_uv == (-32766, 32770)


def test_pmd_ecg_multi_sample_roundtrip_and_truncation() -> None:
    samples = [0, 1, -1, 8388607, -8388608, 1234, -4321] * 10
    data = encode_pmd_ecg(1_700_000_000_000_000_000, samples)
    f = decode_pmd_ecg(data)
    assert list(f.samples_uv) == samples and f.timestamp_ns == 1_700_000_000_000_000_000
    for cut in (0, 5, 9, len(data) - 1, len(data) - 2):
        with pytest.raises(DecodeError):
            decode_pmd_ecg(data[:cut])
    with pytest.raises(DecodeError):
        decode_pmd_ecg(b"\x01" + data[1:])  # not ECG


def test_eda_profile_example_and_roundtrip() -> None:
    p = decode_eda(bytes.fromhex("012a0010270000" + "04e803ea03ec03ee03"))
    assert p.sequence == 42 and p.device_time_ms == 10000 and p.contact and not p.motion
    assert p.samples_us == pytest.approx((2.0, 2.004, 2.008, 2.012))
    q = EdaPacket(65535, 2**32 - 1, False, True, (0.0, 131.07, 5.5))
    assert decode_eda(encode_eda(q)) == EdaPacket(65535, 2**32 - 1, False, True,
                                                  pytest.approx((0.0, 131.07, 5.5)))
    c = EdaConfig(1, 4.0, 4)
    assert decode_eda_config(encode_eda_config(c)) == c
    for bad in (b"", bytes.fromhex("01000000000004e803"), bytes.fromhex("fc00000000000001e803")):
        with pytest.raises(DecodeError):
            decode_eda(bad)


def test_temperature_readings_by_hand() -> None:
    # 36.5 °C: FLOAT exponent -1 (0xff), mantissa 365 (0x00016d), little-endian
    m = decode_temperature(bytes.fromhex("00" "6d0100ff"))
    assert m.celsius == pytest.approx(36.5) and m.timestamp is None and m.location is None
    # 98.6 °F with a time stamp (2026-12-07 10:30:05) and the type "body (general)"
    m = decode_temperature(bytes.fromhex("07" "da0300ff" "ea070c070a1e05" "02"))
    assert m.celsius == pytest.approx(37.0)
    assert m.timestamp == (2026, 12, 7, 10, 30, 5) and m.location == 2
    assert decode_temperature(bytes.fromhex("046d0100ff02")) == TemperatureMeasurement(
        pytest.approx(36.5), None, 2)  # PROFILE.md's example
    # a negative mantissa and a positive exponent: -12 x 10^1
    assert decode_float11073(0x01FFFFF4) == pytest.approx(-120.0)
    for special in (0x007FFFFF, 0x00800000, 0x00800001, 0x007FFFFE, 0x00800002):
        raw = struct.pack("<I", special)
        assert math.isnan(decode_temperature(b"\x00" + raw).celsius)  # no reading
    for bad in (b"", bytes.fromhex("006d0100"),  # truncated
                bytes.fromhex("086d0100ff"),  # a reserved flag bit
                bytes.fromhex("026d0100ff"),  # a time stamp announced, none sent
                bytes.fromhex("006d0100ff02")):  # a trailing byte without its flag
        with pytest.raises(DecodeError):
            decode_temperature(bad)
    assert decode_measurement_interval(b"\x05\x00") == 5
    with pytest.raises(DecodeError):
        decode_measurement_interval(b"\x05")


@pytest.mark.parametrize("stamp,location", list(itertools.product(
    (None, (2026, 1, 31, 23, 59, 59)), (None, 2, 4))))
def test_temperature_roundtrip(stamp: tuple[int, int, int, int, int, int] | None,
                               location: int | None) -> None:
    for celsius in (31.47, 0.0, -5.25, 42.0):
        m = TemperatureMeasurement(celsius, stamp, location)
        assert decode_temperature(encode_temperature(m)) == TemperatureMeasurement(
            pytest.approx(celsius), stamp, location)
    assert math.isnan(decode_temperature(encode_temperature(
        TemperatureMeasurement(math.nan, stamp, location))).celsius)


DECODERS = [decode_heart_rate, decode_battery, decode_pmd_response, decode_pmd_features,
            decode_pmd_ecg, decode_eda, decode_eda_config, decode_temperature,
            decode_measurement_interval]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=260), st.sampled_from(DECODERS))
def test_random_bytes_never_escape(data: bytes, decoder: object) -> None:
    with contextlib.suppress(DecodeError):
        decoder(data)  # type: ignore[operator]


# ---- PFTP: setting a Polar strap's clock ----------------------------------------------
SET_TIME_2022 = bytes.fromhex("0a0708e60f10011803" "1209080610" "0a1826" "20fa01" "1800")


def test_pftp_set_local_time_params_by_hand() -> None:
    """2022-01-03 06:10:38.250 UTC, offset 0, encoded by hand from the protobuf rules:
    PbDate{2022,1,3} as field 1, PbTime{6,10,38,250} as field 2, tz_offset 0 as field 3."""
    when = dt.datetime(2022, 1, 3, 6, 10, 38, 250_000, tzinfo=dt.UTC)
    assert pftp.encode_set_local_time(when) == SET_TIME_2022
    assert pftp.decode_set_local_time(SET_TIME_2022) == (when, 0)
    back, tz = pftp.decode_set_local_time(pftp.encode_set_local_time(when, -300))
    assert back == when and tz == -300
    # Polar's documented example: 2022-01-03T08:00:00 is 694512000000000000 ns after 2000
    assert pftp.polar_ns(dt.datetime(2022, 1, 3, 8, tzinfo=dt.UTC)) == 694512000000000000


def test_pftp_query_frames_and_answers() -> None:
    message = pftp.query_message(pftp.QUERY_SET_LOCAL_TIME, SET_TIME_2022)
    assert message[:2] == b"\x03\x80"  # RFC60: query id 3 with bit 15 set
    assert pftp.parse_query(message) == (3, SET_TIME_2022)
    air = pftp.frames(message, mtu=20)
    # first frame: next=0, status MORE (3), sequence 0; then next=1, LAST (1), sequence 1
    assert [f[0] for f in air] == [0x06, 0x13] and len(air[0]) == 20
    r = pftp.Reassembler()
    assert r.feed(air[0]) is None and r.feed(air[1]) == message
    with pytest.raises(DecodeError):
        r.feed(air[1])  # a continuation without its first frame
    long = pftp.query_message(7, bytes(range(256)) * 2)
    air = pftp.frames(long, mtu=23)
    assert [f[0] >> 4 for f in air] == [i % 16 for i in range(len(air))]  # wraps at 16
    r = pftp.Reassembler()
    assert [r.feed(f) for f in air][-1] == long
    assert pftp.frames(pftp.query_message(4), mtu=20) == [b"\x02\x04\x80"]
    ok, refused = pftp.parse_frame(pftp.response_frame(0)), pftp.parse_frame(b"\x00\xc9\x00")
    assert ok.error == 0 and refused.error == 201
    assert "not implemented" in str(pftp.PftpError(refused.error))
    for bad in (b"", b"\x00\x01", b"\x04abc", b"\x06"[:0]):
        with pytest.raises(DecodeError):
            pftp.parse_frame(bad)
    for bad in (b"", b"\x03\x00", b"\x03"):
        with pytest.raises(DecodeError):
            pftp.parse_query(bad)
    for bad in (b"\x0a\x05\x08", b"\x08\x01", b"\x0a\x00\x12\x00", b"\x0f", b"\xff" * 11):
        with pytest.raises(DecodeError):
            pftp.decode_set_local_time(bad)


def _reassemble(data: bytes) -> object:
    return pftp.Reassembler().feed(data)


PFTP_DECODERS = [pftp.parse_frame, pftp.parse_query, pftp.decode_set_local_time, _reassemble]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(PFTP_DECODERS))
def test_random_bytes_never_escape_pftp(data: bytes, decoder: object) -> None:
    with contextlib.suppress(DecodeError):
        decoder(data)  # type: ignore[operator]
