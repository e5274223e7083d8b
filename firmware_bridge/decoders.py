"""Byte-exact decoders for the wearable profiles: pure functions over bytes.

Every decoder raises `DecodeError` on a malformed packet (too short, bad
header, inconsistent length) and never anything else; callers count and drop.

- Heart Rate Measurement (0x2A37) and Battery Level (0x2A19), Bluetooth SIG.
- Polar PMD (Polar Measurement Data) control-point responses, feature reads and
  ECG data frames, as documented in Polar's BLE SDK (`technical_documentation`).
- Health Thermometer's Temperature Measurement (0x2A1C) and Measurement Interval
  (0x2A21), Bluetooth SIG: the EDA profile's optional skin temperature.
- The affectd EDA profile (firmware_bridge/PROFILE.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class DecodeError(ValueError):
    """A packet that does not parse; count it and drop it."""


# ---- Heart Rate Service -------------------------------------------------------------

@dataclass(frozen=True)
class HeartRateMeasurement:
    bpm: int
    contact: bool | None
    """Skin contact; None when the sensor does not support contact detection."""
    energy_kj: int | None
    rr_s: tuple[float, ...]
    """RR intervals in seconds (received in units of 1/1024 s)."""


def decode_heart_rate(data: bytes) -> HeartRateMeasurement:
    if len(data) < 2:
        raise DecodeError(f"heart rate: {len(data)} bytes")
    flags = data[0]
    pos = 1
    if flags & 0x01:
        if len(data) < 3:
            raise DecodeError("heart rate: uint16 value truncated")
        bpm = struct.unpack_from("<H", data, 1)[0]
        pos = 3
    else:
        bpm = data[1]
        pos = 2
    contact = bool(flags & 0x02) if flags & 0x04 else None
    energy = None
    if flags & 0x08:
        if len(data) < pos + 2:
            raise DecodeError("heart rate: energy expended truncated")
        energy = struct.unpack_from("<H", data, pos)[0]
        pos += 2
    rr: tuple[float, ...] = ()
    if flags & 0x10:
        rest = data[pos:]
        if len(rest) % 2:
            raise DecodeError("heart rate: odd number of RR bytes")
        rr = tuple(v / 1024.0 for v in struct.unpack(f"<{len(rest) // 2}H", rest))
    elif len(data) > pos:
        raise DecodeError("heart rate: trailing bytes without RR flag")
    return HeartRateMeasurement(bpm, contact, energy, rr)


def encode_heart_rate(m: HeartRateMeasurement) -> bytes:
    """The inverse of `decode_heart_rate` (used by the emulators and tests)."""
    flags = 0
    body = b""
    if m.bpm > 255:
        flags |= 0x01
        body += struct.pack("<H", m.bpm)
    else:
        body += bytes([m.bpm])
    if m.contact is not None:
        flags |= 0x04 | (0x02 if m.contact else 0)
    if m.energy_kj is not None:
        flags |= 0x08
        body += struct.pack("<H", m.energy_kj)
    if m.rr_s:
        flags |= 0x10
        body += struct.pack(f"<{len(m.rr_s)}H", *(round(r * 1024) for r in m.rr_s))
    return bytes([flags]) + body


def decode_battery(data: bytes) -> int:
    if len(data) != 1 or data[0] > 100:
        raise DecodeError(f"battery level: {data.hex()}")
    return data[0]


# ---- Health Thermometer Service --------------------------------------------------

HTS_SERVICE = "00001809-0000-1000-8000-00805f9b34fb"
TEMPERATURE_MEASUREMENT = "00002a1c-0000-1000-8000-00805f9b34fb"
MEASUREMENT_INTERVAL = "00002a21-0000-1000-8000-00805f9b34fb"
_FLOAT_NOT_A_VALUE = {0x7FFFFF, 0x800000, 0x800001, 0x7FFFFE, 0x800002}
"""IEEE 11073-20601 FLOAT mantissas that carry no reading: NaN, NRes, reserved, ±INF."""


@dataclass(frozen=True)
class TemperatureMeasurement:
    celsius: float
    """The reading in °C (a Fahrenheit reading is converted); NaN when the thermometer
    sent "not a number" (no valid reading, e.g. not in contact yet)."""
    timestamp: tuple[int, int, int, int, int, int] | None
    """(year, month, day, hours, minutes, seconds) when the thermometer sent one."""
    location: int | None
    """Temperature Type when sent (2 body, 4 finger, ...: the SIG's assigned numbers)."""


def decode_float11073(raw: int) -> float:
    """A 32-bit IEEE 11073 FLOAT: 8-bit signed exponent, 24-bit signed mantissa."""
    mantissa = raw & 0xFFFFFF
    if mantissa in _FLOAT_NOT_A_VALUE:
        return float("nan")
    exponent = (raw >> 24) - 256 if raw >> 31 else raw >> 24
    if mantissa & 0x800000:
        mantissa -= 1 << 24
    return mantissa * 10.0 ** exponent


def encode_float11073(value: float, exponent: int = -2) -> int:
    """The inverse of `decode_float11073` at a fixed exponent (NaN: "not a number")."""
    if value != value:  # NaN
        return 0x007FFFFF
    mantissa = round(value * 10.0 ** -exponent)
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


def decode_temperature(data: bytes) -> TemperatureMeasurement:
    if len(data) < 5:
        raise DecodeError(f"temperature: {len(data)} bytes")
    flags = data[0]
    if flags & 0xF8:
        raise DecodeError(f"temperature: reserved flag bits {flags:#04x}")
    want = 5 + (7 if flags & 0x02 else 0) + (1 if flags & 0x04 else 0)
    if len(data) != want:
        raise DecodeError(f"temperature: {len(data)} bytes, flags {flags:#04x} say {want}")
    value = decode_float11073(struct.unpack_from("<I", data, 1)[0])
    if flags & 0x01:  # Fahrenheit
        value = (value - 32.0) * 5.0 / 9.0
    stamp = None
    if flags & 0x02:
        year, month, day, hh, mm, ss = struct.unpack_from("<HBBBBB", data, 5)
        stamp = (year, month, day, hh, mm, ss)
    return TemperatureMeasurement(value, stamp, data[-1] if flags & 0x04 else None)


def encode_temperature(m: TemperatureMeasurement) -> bytes:
    """The inverse of `decode_temperature`, in °C (used by the emulators and tests)."""
    flags = (0x02 if m.timestamp else 0) | (0x04 if m.location is not None else 0)
    out = bytes([flags]) + struct.pack("<I", encode_float11073(m.celsius))
    if m.timestamp:
        out += struct.pack("<HBBBBB", *m.timestamp)
    return out + (bytes([m.location]) if m.location is not None else b"")


def decode_measurement_interval(data: bytes) -> int:
    """Seconds between measurements (0: the thermometer sends none on its own)."""
    if len(data) != 2:
        raise DecodeError(f"measurement interval: {data.hex()}")
    return int(struct.unpack("<H", data)[0])


# ---- Polar PMD ---------------------------------------------------------------------

PMD_SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
PMD_START_ECG = bytes.fromhex("02000001820001010e00")
"""Start ECG: 130 Hz (setting 0 = 0x0082), 14-bit resolution (setting 1 = 0x000E)."""
PMD_STOP_ECG = bytes.fromhex("0300")
PMD_GET_ECG_SETTINGS = bytes.fromhex("0100")
POLAR_EPOCH_NS = 946684800 * 10**9
"""2000-01-01T00:00:00Z in unix nanoseconds: PMD timestamps count from there."""


class PmdStatus(IntEnum):
    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13


class PmdError(RuntimeError):
    """The strap answered a control-point request with an error status."""

    def __init__(self, status: PmdStatus, op: int) -> None:
        super().__init__(f"PMD op {op:#04x} failed: {status.name}")
        self.status = status


@dataclass(frozen=True)
class PmdResponse:
    op_code: int
    measurement_type: int
    status: PmdStatus
    parameters: bytes

    @property
    def ok(self) -> bool:
        return self.status == PmdStatus.SUCCESS


def decode_pmd_response(data: bytes) -> PmdResponse:
    if len(data) < 4 or data[0] != 0xF0:
        raise DecodeError(f"PMD response: {data.hex()}")
    try:
        status = PmdStatus(data[3])
    except ValueError:
        raise DecodeError(f"PMD response: unknown status {data[3]}") from None
    # byte 4, when present, is "more frames follow"; parameters come after it
    return PmdResponse(data[1], data[2], status, bytes(data[5:]))


PMD_FEATURES = ("ecg", "ppg", "acc", "ppi", "reserved", "gyro", "magnetometer")


def decode_pmd_features(data: bytes) -> set[str]:
    """The control point's read value: 0x0F then a bitmask of measurement types."""
    if len(data) < 2 or data[0] != 0x0F:
        raise DecodeError(f"PMD features: {data.hex()}")
    return {name for i, name in enumerate(PMD_FEATURES) if data[1] & (1 << i)}


@dataclass(frozen=True)
class EcgFrame:
    timestamp_ns: int
    """Strap time of the last sample, unix nanoseconds."""
    samples_uv: tuple[int, ...]


def decode_pmd_ecg(data: bytes) -> EcgFrame:
    if len(data) < 10:
        raise DecodeError(f"PMD ECG frame: {len(data)} bytes")
    if data[0] != 0x00:
        raise DecodeError(f"PMD frame: measurement type {data[0]} is not ECG")
    if data[9] != 0x00:
        raise DecodeError(f"PMD ECG frame type {data[9]} not supported")
    body = data[10:]
    if len(body) % 3:
        raise DecodeError("PMD ECG frame: samples are not 3-byte aligned")
    ts = struct.unpack_from("<Q", data, 1)[0] + POLAR_EPOCH_NS
    samples = tuple(int.from_bytes(body[i:i + 3], "little", signed=True)
                    for i in range(0, len(body), 3))
    return EcgFrame(ts, samples)


def encode_pmd_ecg(timestamp_ns: int, samples_uv: list[int]) -> bytes:
    head = bytes([0x00]) + struct.pack("<Q", timestamp_ns - POLAR_EPOCH_NS) + bytes([0x00])
    return head + b"".join(int(v).to_bytes(3, "little", signed=True) for v in samples_uv)


# ---- affectd EDA profile (PROFILE.md) ---------------------------------------------

EDA_SERVICE = "a7d00001-0b5e-4c61-8f64-65646170726f"
EDA_MEASUREMENT = "a7d00002-0b5e-4c61-8f64-65646170726f"
EDA_CONFIG = "a7d00003-0b5e-4c61-8f64-65646170726f"
EDA_UNIT_US = 0.002
"""One count of a sample is 2 nS = 0.002 µS (range 0 - 131.07 µS)."""


@dataclass(frozen=True)
class EdaConfig:
    version: int
    rate_hz: float
    samples_per_packet: int


@dataclass(frozen=True)
class EdaPacket:
    sequence: int
    device_time_ms: int
    """Device clock of the first sample, ms."""
    contact: bool
    motion: bool
    samples_us: tuple[float, ...]


def decode_eda_config(data: bytes) -> EdaConfig:
    if len(data) != 4 or data[0] != 1:
        raise DecodeError(f"EDA config: {data.hex()}")
    rate = struct.unpack_from("<H", data, 1)[0] / 100.0
    if rate <= 0 or data[3] == 0:
        raise DecodeError(f"EDA config: rate {rate} Hz, {data[3]} samples per packet")
    return EdaConfig(1, rate, data[3])


def encode_eda_config(c: EdaConfig) -> bytes:
    return bytes([1]) + struct.pack("<H", round(c.rate_hz * 100)) + bytes([c.samples_per_packet])


def decode_eda(data: bytes) -> EdaPacket:
    if len(data) < 8:
        raise DecodeError(f"EDA packet: {len(data)} bytes")
    flags, seq, t_ms, n = struct.unpack_from("<BHIB", data, 0)
    if flags & 0xFC:
        raise DecodeError(f"EDA packet: reserved flag bits {flags:#04x}")
    if len(data) != 8 + 2 * n or n == 0:
        raise DecodeError(f"EDA packet: {n} samples in {len(data)} bytes")
    raw = struct.unpack_from(f"<{n}H", data, 8)
    return EdaPacket(seq, t_ms, bool(flags & 1), bool(flags & 2),
                     tuple(v * EDA_UNIT_US for v in raw))


def encode_eda(p: EdaPacket) -> bytes:
    flags = (1 if p.contact else 0) | (2 if p.motion else 0)
    raw = [min(65535, max(0, round(v / EDA_UNIT_US))) for v in p.samples_us]
    return struct.pack("<BHIB", flags, p.sequence & 0xFFFF, p.device_time_ms & 0xFFFFFFFF,
                       len(raw)) + struct.pack(f"<{len(raw)}H", *raw)
