"""Polar's file-transfer protocol (PFTP), the part needed to set a strap's clock.

Polar sensors stamp ECG frames with their own clock, in nanoseconds since
2000-01-01T00:00:00. A Polar H10 falls back to a default time (2019-01-01 on
firmware 3.1.1) whenever it shuts down, so its timestamps mean nothing until the
host sets the clock. That is done, as in Polar's SDK (`setLocalTime`), with a
PFTP *query* on the PSFTP service `0xFEEE`:

- the message: an RFC60 header, two bytes little-endian, `query_id | 0x8000`
  (bit 15 marks a query), then the protobuf-encoded parameters;
  `SET_LOCAL_TIME` = 3 with `PbPFtpSetLocalTimeParams {PbDate date = 1;
  PbTime time = 2; int32 tz_offset = 3}`, `PbDate {year, month, day}`,
  `PbTime {hour, minute, seconds, millis}`;
- on the air: RFC76 frames written to the MTU characteristic `…5C51…`. Each
  frame has a one-byte header: bit 0 "next" (0 on the first frame of a message),
  bits 1-2 status (`3` more frames follow, `1` last frame, `0` error/response),
  bits 4-7 a sequence number counting 0-15 and wrapping;
- the answer: a notification on the same characteristic; status `0` carries a
  16-bit little-endian PbPFtpError code, `0` meaning success.

The strap keeps whatever wall time it is given; affectd sets UTC with a zero
offset, so timestamps become UTC and map onto the host clock exactly.

Why hand-written protobuf: three small messages of varints. A protobuf runtime
and generated code would be a dependency larger than this module for no gain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from firmware_bridge.decoders import DecodeError

PFTP_SERVICE = "0000feee-0000-1000-8000-00805f9b34fb"
PFTP_MTU = "fb005c51-02e7-f387-1cad-8acd2d8df0c8"
QUERY_SET_LOCAL_TIME = 3
QUERY_GET_LOCAL_TIME = 4
POLAR_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
STATUS_ERROR_OR_RESPONSE, STATUS_LAST, STATUS_MORE = 0, 1, 3
PFTP_ERRORS = {
    0: "operation succeeded", 1: "rebooting", 2: "try again",
    100: "unidentified host error", 101: "invalid command", 102: "invalid parameter",
    103: "no such file or directory", 104: "directory exists", 105: "file exists",
    106: "operation not permitted", 107: "no such user", 108: "timeout",
    200: "unidentified device error", 201: "not implemented", 202: "system busy",
    203: "invalid content", 204: "checksum failure", 205: "disk full",
    206: "prerequisite not met", 207: "insufficient buffer", 208: "wait for idling",
}


class PftpError(RuntimeError):
    def __init__(self, code: int) -> None:
        super().__init__(f"PFTP error {code} ({PFTP_ERRORS.get(code, 'unknown')})")
        self.code = code


# -- protobuf, the wire format subset these messages use ------------------------------
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int32 negatives are sign-extended to 10 bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> dict[int, int | bytes]:
    """Field number -> value (varint or length-delimited); other wire types refused."""
    out: dict[int, int | bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], pos = _read_varint(data, pos)
        elif wire == 2:
            n, pos = _read_varint(data, pos)
            if pos + n > len(data):
                raise DecodeError("truncated field")
            out[number], pos = data[pos:pos + n], pos + n
        else:
            raise DecodeError(f"unexpected protobuf wire type {wire}")
    return out


def encode_set_local_time(when: dt.datetime, tz_offset_min: int = 0) -> bytes:
    """`PbPFtpSetLocalTimeParams` for the wall time `when` (as the strap should show it)."""
    date = (_field_varint(1, when.year) + _field_varint(2, when.month)
            + _field_varint(3, when.day))
    time = (_field_varint(1, when.hour) + _field_varint(2, when.minute)
            + _field_varint(3, when.second) + _field_varint(4, when.microsecond // 1000))
    return _field_bytes(1, date) + _field_bytes(2, time) + _field_varint(3, tz_offset_min)


def decode_set_local_time(data: bytes) -> tuple[dt.datetime, int]:
    """(wall time as a naive-UTC-aware datetime, tz offset in minutes)."""
    f = _fields(data)
    date, time = f.get(1), f.get(2)
    if not isinstance(date, bytes) or not isinstance(time, bytes):
        raise DecodeError("set-local-time params without date or time")
    d, t = _fields(date), _fields(time)
    try:
        when = dt.datetime(int(d[1]), int(d[2]), int(d[3]), int(t[1]), int(t[2]), int(t[3]),
                           int(t.get(4, 0)) * 1000, tzinfo=dt.timezone.utc)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise DecodeError(f"bad date/time in set-local-time params: {exc}") from None
    tz = f.get(3, 0)
    if not isinstance(tz, int):
        raise DecodeError("tz_offset is not a varint")
    return when, tz - (1 << 64) if tz >= 1 << 63 else tz


def polar_ns(when: dt.datetime) -> int:
    """Nanoseconds since the Polar epoch (2000-01-01) of a wall time."""
    delta = when - POLAR_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# -- RFC60 messages and RFC76 frames --------------------------------------------------
def query_message(query_id: int, params: bytes = b"") -> bytes:
    return bytes([query_id & 0xFF, ((query_id >> 8) & 0x7F) | 0x80]) + params


def parse_query(message: bytes) -> tuple[int, bytes]:
    """(query id, parameters) of a query message."""
    if len(message) < 2 or not message[1] & 0x80:
        raise DecodeError("not a PFTP query")
    return message[0] | (message[1] & 0x7F) << 8, message[2:]


def frames(message: bytes, mtu: int = 20) -> list[bytes]:
    """Split a message into RFC76 air frames of at most `mtu` bytes."""
    if mtu < 2:
        raise ValueError("mtu must be at least 2")
    out: list[bytes] = []
    pos = seq = 0
    while True:
        chunk = message[pos:pos + mtu - 1]
        pos += len(chunk)
        status = STATUS_MORE if pos < len(message) else STATUS_LAST
        out.append(bytes([(1 if out else 0) | status << 1 | seq << 4]) + chunk)
        seq = (seq + 1) & 0x0F
        if pos >= len(message):
            return out


@dataclass(frozen=True)
class Frame:
    first: bool
    status: int
    sequence: int
    payload: bytes
    error: int | None
    """The PbPFtpError code of a status-0 (error/response) frame."""


def parse_frame(packet: bytes) -> Frame:
    if not packet:
        raise DecodeError("empty RFC76 frame")
    head = packet[0]
    status = (head >> 1) & 0x03
    if status == STATUS_ERROR_OR_RESPONSE:
        if len(packet) < 3:
            raise DecodeError("RFC76 error frame without its code")
        return Frame(not head & 1, status, head >> 4, b"", packet[1] | packet[2] << 8)
    if status not in (STATUS_LAST, STATUS_MORE):
        raise DecodeError(f"RFC76 status {status} is reserved")
    return Frame(not head & 1, status, head >> 4, packet[1:], None)


def response_frame(error: int = 0) -> bytes:
    """The device's answer to a query with no payload: status 0 and an error code."""
    return bytes([0x00, error & 0xFF, (error >> 8) & 0xFF])


class Reassembler:
    """Joins RFC76 frames into messages; a frame out of sequence restarts the message."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._next_seq = 0

    def feed(self, packet: bytes) -> bytes | None:
        """The whole message once its last frame arrives, else None."""
        f = parse_frame(packet)
        if f.first:
            self._parts = []
        elif f.sequence != self._next_seq or not self._parts:
            self._parts = []
            raise DecodeError("RFC76 frame out of sequence")
        self._next_seq = (f.sequence + 1) & 0x0F
        self._parts.append(f.payload)
        if f.status == STATUS_MORE:
            return None
        message, self._parts = b"".join(self._parts), []
        return message
