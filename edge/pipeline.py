"""The pipeline: one thread per source and per analyzer, bounded queues between them.

Why threads and not asyncio: every heavy step either blocks in a C library
(camera and microphone reads, OpenCV decode) or runs native code that releases
the GIL (LiteRT invoke, numpy), and the hardware APIs (picamera2,
PyAudio, OpenCV) are blocking. A thread per stage keeps each one simple and
lets the two cores overlap capture with inference; paho runs its own network
thread and bleak its own event loop inside the wearable source's thread.

Each source pushes into a `DropOldestQueue` read by its analyzer, so a slow
analyzer drops the oldest frames instead of growing memory. A source or
analyzer that raises is restarted with exponential backoff while the others
keep running. Every stage updates a heartbeat; `Pipeline.stalled()` names the
stages busy for longer than the stall timeout, and the daemon stops feeding
the systemd watchdog while any is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.analyzer import Analyzer, CountsRejected
from edge.flow import Backoff, DropOldestQueue, StageStats
from edge.fusion import LateFusion
from edge.messages import SourceItem
from edge.settings import RuntimeSettings
from edge.sources.base import EndOfStream, Source

log = logging.getLogger(__name__)


class SourceRunner(threading.Thread):
    """Opens, reads and (on failure) reopens one source with backoff; honours the pause."""

    def __init__(self, source: Source, queue: DropOldestQueue[SourceItem], rt: RuntimeSettings,
                 paused: Callable[[], bool], stop: threading.Event) -> None:
        super().__init__(name=f"src-{source.name}", daemon=True)
        self.source = source
        self.queue = queue
        self.stats = StageStats(_stage_name(source.name))
        self.state = "closed"
        self.last_error = ""
        self._rt = rt
        self._paused = paused
        self._halt = stop
        self._open = False

    def _close(self) -> None:
        if self._open:
            try:
                self.source.close()
            except Exception as exc:  # a dying device may fail to close; nothing to keep
                log.debug("%s close failed: %s", self.source.name, exc)
            self._open = False

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._halt.is_set() and time.monotonic() < end:
            self.stats.beat()
            self._halt.wait(min(0.2, max(0.0, end - time.monotonic())))

    def run(self) -> None:
        backoff = Backoff(self._rt.restart_min_s, self._rt.restart_max_s)
        while not self._halt.is_set():
            if self._paused():
                self._close()
                self.state = "paused"
                self._wait(0.05)
                continue
            if not self._open:
                try:
                    self.source.open()
                    self._open = True
                    self.state = "running"
                except Exception as exc:
                    self._fail(exc, backoff)
                    continue
            try:
                self.stats.start_work()
                items = self.source.read()
                self.stats.beat()
            except EndOfStream:
                log.info("%s: end of stream", self.source.name)
                self._close()
                self.state = "ended"
                return
            except Exception as exc:
                self._fail(exc, backoff)
                continue
            if items:
                backoff.reset()
                self.stats.record_items(len(items))
            for item in items:
                if not self.queue.put(item):
                    self.stats.dropped += 1
        self._close()
        self.state = "closed"

    def _fail(self, exc: Exception, backoff: Backoff) -> None:
        self.stats.errors += 1
        self.last_error = str(exc)[:200]
        self._close()
        delay = backoff.next_delay()
        self.state = "backoff"
        log.warning("%s failed (%s); retrying in %.1f s", self.source.name, exc, delay)
        self.stats.restarts += 1
        self._wait(delay)


class AnalyzerRunner(threading.Thread):
    """Feeds one analyzer from its queue and hands estimates to fusion."""

    def __init__(self, analyzer: Analyzer, queue: DropOldestQueue[SourceItem], fusion: LateFusion,
                 rt: RuntimeSettings, paused: Callable[[], bool], stop: threading.Event,
                 name: str | None = None) -> None:
        super().__init__(name=f"ana-{name or analyzer.name}", daemon=True)
        self.analyzer = analyzer
        self.queue = queue
        self.fusion = fusion
        self.stats = StageStats(_stage_name(name or analyzer.name))
        self.state = "running"
        self.last_error = ""
        self._rt = rt
        self._paused = paused
        self._halt = stop
        self._was_paused = False

    def run(self) -> None:
        backoff = Backoff(self._rt.restart_min_s, self._rt.restart_max_s)
        while not self._halt.is_set():
            item = self.queue.get(timeout=0.2)
            self.stats.beat()
            if self._paused():
                if not self._was_paused:
                    self.analyzer.reset()
                    self.queue.clear()
                self._was_paused = True
                self.state = "paused"
                continue
            self._was_paused = False
            if item is None:
                continue
            started = self.stats.start_work()
            try:
                estimates = self.analyzer.process(item)
            except Exception as exc:
                self.stats.errors += 1
                self.stats.restarts += 1
                self.last_error = str(exc)[:200]
                self.state = "backoff"
                delay = backoff.next_delay()
                log.exception("%s failed; reset and retry in %.1f s", self.analyzer.name, delay)
                self.analyzer.reset()
                self.stats.beat()
                self._halt.wait(delay)
                continue
            self.stats.done_work(started)
            self.state = "running"
            backoff.reset()
            for est in estimates:
                self.fusion.update(est)


def _stage_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in ":_-" else "_" for c in name.lower())[:48]


class Pipeline:
    """Owns the runners; `start`, `stop`, health and stats."""

    def __init__(self, pairs: list[tuple[Source, Analyzer]], fusion: LateFusion,
                 rt: RuntimeSettings, paused: Callable[[], bool]) -> None:
        self.rt = rt
        self.stop_event = threading.Event()
        self.sources: list[SourceRunner] = []
        self.analyzers: list[AnalyzerRunner] = []
        for source, analyzer in pairs:
            q: DropOldestQueue[SourceItem] = DropOldestQueue(rt.queue_size)
            self.sources.append(SourceRunner(source, q, rt, paused, self.stop_event))
            self.analyzers.append(AnalyzerRunner(analyzer, q, fusion, rt, paused,
                                                 self.stop_event, f"{analyzer.name}"))

    @property
    def runners(self) -> list[SourceRunner | AnalyzerRunner]:
        return [*self.sources, *self.analyzers]

    def start(self) -> None:
        for r in self.runners:
            r.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.stop_event.set()
        for s in self.sources:
            s.source.stop_event.set()
        deadline = time.monotonic() + timeout
        for r in self.runners:
            r.join(max(0.0, deadline - time.monotonic()))

    def stalled(self, now: float | None = None) -> list[str]:
        """Names of stages that are alive but have not made progress within the timeout."""
        now = time.monotonic() if now is None else now
        out = []
        for r in self.runners:
            if r.is_alive() and r.stats.stalled(now, self.rt.stall_timeout_s):
                out.append(r.stats.name)
            elif not r.is_alive() and r.state not in ("ended", "closed"):
                out.append(r.stats.name)  # a thread died unexpectedly: also not healthy
        return out

    def stage_stats(self, now: float) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for r in self.runners:
            snap: dict[str, object] = dict(r.stats.snapshot(now))
            snap["state"] = "stalled" if r.stats.stalled(now, self.rt.stall_timeout_s) \
                and r.is_alive() else r.state
            if isinstance(r, AnalyzerRunner) and isinstance(r.analyzer, CountsRejected):
                snap["rejected"] = r.analyzer.rejected
            if isinstance(r, SourceRunner):
                snap["skipped"] = r.source.skipped
                snap["queued"] = len(r.queue)
            if r.last_error:
                snap["last_error"] = r.last_error
            out[r.stats.name] = snap
        return out
