"""The library's own output types: decoded samples and reconnect backoff.

`firmware_bridge` is a BLE library that knows nothing of the daemon: its client
hands `Samples` to a callback, and the daemon's wearable source
(`edge/sources/wearable/ble.py`) adapts them to its own messages. `BackoffPolicy`
holds the reconnect parameters of the supervisor.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

SampleKind = Literal["ecg", "eda", "hr", "rr", "temp"]


@dataclass(frozen=True)
class Samples:
    """One decoded packet's worth of one signal."""

    ts: float
    """Monotonic time (s) of the last sample (ECG: from the strap's clock when set)."""
    kind: SampleKind
    """"ecg" (µV), "eda" (µS), "hr" (bpm, one value), "rr" (s, the packet's intervals),
    "temp" (skin temperature, °C, one reading; NaN when the thermometer has none)."""
    fs: float
    """Sample rate in Hz (0 for event-like kinds: hr, rr; temp: 1 / the thermometer's
    measurement interval)."""
    values: npt.NDArray[np.float64]
    """The samples, oldest first."""
    device: str
    """Address of the device that sent them."""


@dataclass(frozen=True)
class BackoffPolicy:
    """Reconnect delays: doubling from `min_s` up to `max_s`, each scaled by a random
    factor in [0.5, 1] so that many devices do not reconnect in lock-step."""

    min_s: float = 0.5
    """First delay after a failed or lost connection."""
    max_s: float = 30.0
    """Longest delay."""

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The delay before attempt number `failures` + 1 (0 failures: `min_s`)."""
        scale = (rng or random).uniform(0.5, 1.0)
        return scale * min(self.max_s, self.min_s * 2.0 ** min(failures, 62))
