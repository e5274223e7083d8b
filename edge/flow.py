"""Flow-control primitives shared by the pipeline stages.

`DropOldestQueue` is the bounded hand-over between a source and its analyzer:
a slow analyzer makes the source overwrite the oldest item, so memory never
grows. `Backoff` computes restart delays (exponential with jitter).
`StageStats` keeps per-stage counters and a window of latencies for `stats`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """A bounded FIFO whose `put` never blocks: when full, the oldest item is dropped."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Append `item`; return False when an older item had to be dropped."""
        with self._cond:
            dropped = len(self._items) >= self._maxsize
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return not dropped

    def get(self, timeout: float) -> T | None:
        """Return the oldest item, or None after `timeout` seconds without one."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


@dataclass
class Backoff:
    """Exponential backoff with full jitter between `initial` and `maximum` seconds."""

    initial: float
    maximum: float
    attempts: int = 0

    def next_delay(self, rng: random.Random | None = None) -> float:
        base = min(self.maximum, self.initial * (2 ** self.attempts))
        self.attempts += 1
        jitter = (rng or random).uniform(0.5, 1.0)
        return base * jitter

    def reset(self) -> None:
        self.attempts = 0


class StageStats:
    """Counters and a rolling latency window of one stage (thread-safe)."""

    def __init__(self, name: str, window: int = 512) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=window)
        self._times: deque[float] = deque(maxlen=window)
        self.items = 0
        self.errors = 0
        self.restarts = 0
        self.dropped = 0
        self.heartbeat = time.monotonic()
        self.busy_since: float | None = None

    def beat(self) -> None:
        """Mark the stage alive and idle."""
        self.heartbeat = time.monotonic()
        self.busy_since = None

    def start_work(self) -> float:
        now = time.monotonic()
        self.heartbeat = now
        self.busy_since = now
        return now

    def done_work(self, started: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._latencies.append(now - started)
            self._times.append(now)
            self.items += 1
        self.heartbeat = now
        self.busy_since = None

    def record_items(self, n: int) -> None:
        """Count `n` items produced (sources: rate without a processing latency)."""
        now = time.monotonic()
        with self._lock:
            self.items += n
            self._times.extend([now] * n)

    def stalled(self, now: float, timeout: float) -> bool:
        """True when the stage has been busy (or silent) for longer than `timeout`."""
        if self.busy_since is not None:
            return now - self.busy_since > timeout
        return now - self.heartbeat > timeout

    def snapshot(self, now: float) -> dict[str, float | int]:
        with self._lock:
            lat = np.asarray(self._latencies, dtype=np.float64)
            times = [t for t in self._times if now - t <= 30.0]
        fps = len(times) / min(30.0, max(1e-3, now - times[0])) if len(times) > 1 else 0.0
        return {
            "fps": round(fps, 2),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 2) if lat.size else 0.0,
            "p95_ms": round(float(np.percentile(lat, 95)) * 1e3, 2) if lat.size else 0.0,
            "items": self.items,
            "errors": self.errors,
            "restarts": self.restarts,
            "dropped": self.dropped,
        }
