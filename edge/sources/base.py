"""The source interface and real-time pacing for file replays."""

from __future__ import annotations

import abc
import threading
import time

from edge.messages import Modality, SourceItem


class SourceError(RuntimeError):
    """A source failed (device gone, unreadable file); the pipeline retries with backoff."""


class EndOfStream(Exception):
    """A finite source (a replay with loop off) has nothing more."""


class Source(abc.ABC):
    """Reads one device or file; `read` returns the next item(s) or raises.

    `open`/`close` may be called many times (restart after failure, privacy
    pause). Corrupt input is counted in `skipped` and never raised.
    """

    name: str = "source"
    modality: Modality = "physio"

    def __init__(self) -> None:
        self.skipped = 0
        self.stop_event = threading.Event()

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the device or file; raise SourceError when it is not there."""

    @abc.abstractmethod
    def read(self) -> list[SourceItem]:
        """Block for at most about one chunk and return what arrived (may be empty)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; must be safe to call twice."""

    def describe(self) -> str:
        return self.name


class Pacer:
    """Releases items at their media time (real time) or at once (`realtime=False`)."""

    def __init__(self, realtime: bool, stop: threading.Event) -> None:
        self.realtime = realtime
        self._stop = stop
        self._t0 = time.monotonic()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    def wait(self, media_time: float) -> float:
        """Wait until `media_time` seconds after start; return the monotonic time then."""
        if self.realtime:
            delay = self._t0 + media_time - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        return time.monotonic()
