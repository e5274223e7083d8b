"""The daemon: wires sources, analyzers, fusion and the MQTT publisher, and runs
the heartbeat loop that publishes `state` and `stats` and feeds the systemd watchdog.

The heartbeat only sends WATCHDOG=1 while no pipeline stage is stalled, so a
hung analyzer or camera read makes systemd restart the service; if a stall
lasts three stall timeouts the daemon exits with status 70 itself, so the
service restarts even without a watchdog.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from edge import __version__
from edge.analyzer import Analyzer, Recalibrating, ReportsSignal
from edge.config import ConfigError
from edge.fusion import LateFusion
from edge.messages import MODALITIES
from edge.notify import Notifier
from edge.pipeline import Pipeline
from edge.privacy import PrivacySwitch
from edge.procstats import CpuMeter, cpu_temp_c, rss_mb
from edge.profiles.base import Profile
from edge.publish.mqtt import MqttPublisher
from edge.publish.payloads import SCHEMA_VERSION
from edge.settings import Settings
from edge.sources import Source, build_sources
from edge.sources.base import ReportsHealth

log = logging.getLogger(__name__)
EXIT_STALLED = 70


def _physio(settings: Settings) -> Analyzer:
    from edge.physio.analyzer import PhysioAnalyzer

    return PhysioAnalyzer(settings.physio.calibration_s,
                          baseline_path=settings.device.state_dir / "baseline.json")


def _face(settings: Settings) -> Analyzer:
    from edge.face.analyzer import FaceAnalyzer

    return FaceAnalyzer(settings.face, threads=settings.runtime.threads)


def _voice(settings: Settings) -> Analyzer:
    from edge.voice.analyzer import VoiceAnalyzer

    return VoiceAnalyzer(threads=1, settings=settings.voice)


ANALYZERS: dict[str, Callable[[Settings], Analyzer]] = {
    "physio": _physio, "face": _face, "voice": _voice}
"""The analyzer of each modality (its models load only when a source needs it)."""


def build_analyzer(source: Source, settings: Settings) -> Analyzer:
    """The analyzer for a source's modality."""
    make = ANALYZERS.get(source.modality)
    if make is None:
        raise ConfigError(f"{source.modality}", "no analyzer for this modality")
    return make(settings)


class Daemon:
    """One running affectd instance; `run()` blocks until `request_stop()` or a signal."""

    def __init__(self, settings: Settings, notifier: Notifier | None = None,
                 pairs: list[tuple[Source, Analyzer]] | None = None) -> None:
        self.s = settings
        self.notifier = notifier or Notifier()
        self.privacy = PrivacySwitch(settings.device.state_dir)
        if pairs is None:
            pairs = [(src, build_analyzer(src, settings)) for src in build_sources(settings)]
        enabled = tuple(m for m in MODALITIES if any(src.modality == m for src, _ in pairs))
        self.fusion = LateFusion(settings.fusion, enabled)
        self.pipeline = Pipeline(pairs, self.fusion, settings.runtime, lambda: self.privacy.on)
        self.publisher = MqttPublisher(settings, self._set_privacy, lambda: self.privacy.on,
                                       commands={"calibrate": self._calibrate})
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.output: Profile = self.publisher.profile(settings, self.fusion, self.publisher,
                                                      lambda: self.privacy.on, self._wake.set)
        self._cpu = CpuMeter()
        self._started = time.monotonic()
        self.exit_code = 0

    # -- control ---------------------------------------------------------------
    def _calibrate(self) -> None:
        """`calibrate/set START`: a new personal baseline from the coming minutes."""
        for r in self.pipeline.analyzers:
            if isinstance(r.analyzer, Recalibrating):
                log.info("%s: recalibrating the baseline", r.analyzer.name)
                r.analyzer.recalibrate()

    def _set_privacy(self, on: bool) -> None:
        if self.privacy.set(on):
            log.info("privacy pause %s", "ON" if on else "OFF")
            self.fusion.reset()
            if on:
                self.output.on_pause()  # nothing gathered before the pause is published
        self.publisher.publish_privacy_state()
        self._wake.set()  # publish a state reflecting the switch right away

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    # -- payloads ----------------------------------------------------------------
    def stats_payload(self, now: float) -> dict[str, object]:
        faults = [f"{name}: stalled" for name in self.pipeline.stalled(now)]
        faults += [(r.last_error if r.last_error.startswith(r.stats.name)
                    else f"{r.stats.name}: {r.last_error}")[:200] for r in self.pipeline.runners
                   if r.state == "backoff" and r.last_error]
        if self.privacy.fault:
            faults.append(self.privacy.fault[:200])
        if self.publisher.fault:
            faults.append(self.publisher.fault[:200])
        if not self.publisher.connected:
            faults.append("mqtt: disconnected")
        for ar in self.pipeline.analyzers:
            if isinstance(ar.analyzer, ReportsSignal):
                faults += ar.analyzer.signal_faults()
        models = []
        for r in self.pipeline.analyzers:
            models += [{"id": m, "version": v} for m, v in
                       (mid.split("@", 1) if "@" in mid else (mid, "0") for mid in
                        r.analyzer.model_ids())]
        wearables: list[dict[str, object]] = []
        for sr in self.pipeline.sources:
            if isinstance(sr.source, ReportsHealth):
                wearables += sr.source.health()
        return {
            **self.output.stats(),
            "wearables": wearables[:8],
            "schema": SCHEMA_VERSION, "ts": round(time.time(), 3),
            "uptime_s": round(now - self._started, 1), "paused": self.privacy.on,
            "stages": self.pipeline.stage_stats(now), "mqtt": self.publisher.counters(),
            "cpu_percent": self._cpu.percent(), "rss_mb": round(rss_mb(), 1),
            "cpu_temp_c": cpu_temp_c(), "faults": faults[:16], "models": models[:16],
        }

    # -- main loop ----------------------------------------------------------------
    def run(self, duration_s: float | None = None,
            on_tick: Callable[[Daemon], None] | None = None) -> int:
        self.notifier.status("starting")
        self.publisher.start()
        self.pipeline.start()
        self.notifier.ready()
        self.notifier.status("running")
        next_stats = time.monotonic() + min(5.0, self.s.publish.stats_interval_s)
        stalled_since: float | None = None
        end = None if duration_s is None else time.monotonic() + duration_s
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if end is not None and now >= end:
                    break
                woken = self._wake.is_set()
                self._wake.clear()
                self.output.tick(now, woken)
                if now >= next_stats:
                    self.publisher.publish("stats", self.publisher.topics.stats,
                                           self.stats_payload(now), buffer=False)
                    next_stats = now + self.s.publish.stats_interval_s
                stalled = self.pipeline.stalled(now)
                if not stalled:
                    stalled_since = None
                    self.notifier.watchdog()
                else:
                    stalled_since = stalled_since or now
                    if now - stalled_since > 3 * self.s.runtime.stall_timeout_s:
                        log.error("stages stalled for too long: %s; exiting", ", ".join(stalled))
                        self.exit_code = EXIT_STALLED
                        break
                if on_tick is not None:
                    on_tick(self)
                self._wake.wait(min(1.0, max(0.0, min(self.output.next_due, next_stats)
                                             - time.monotonic())))
        finally:
            self.notifier.stopping()
            self.pipeline.stop()
            self.publisher.stop()
        return self.exit_code


def version() -> str:
    return __version__
