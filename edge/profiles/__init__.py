"""Publishing profiles: which topic carries what, and how often (docs/mqtt.md).

- `full`: `state` (everything fused) every `publish.interval_s`, and at once when
  the privacy switch changes.
- `mood_light`: `mood` (smoothed valence, arousal, dwell-limited emotion,
  confidence) at most once a second, for lamps.
- `biofeedback`: `biofeedback` (the physiology's latest window unsmoothed: stress,
  HR, RMSSD, a breathing pace) as soon as a new window is analysed (the analyzer
  makes one a second; at most two a second go out), and a keep-alive repeating the
  last one with its growing `age_s` when none came for 1.5 s; `calibrate/set
  START` restarts the wearer's baseline.
- `kiosk`: `audience` once per `kiosk_window_s`, aggregated over at least
  `kiosk_k` faces (edge/profiles/audience.py); nothing else about the people in view
  (no `state` at all).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.fusion import LateFusion
from edge.messages import ModalityEstimate
from edge.profiles.audience import AudienceWindow
from edge.publish.mqtt import MqttPublisher
from edge.publish.payloads import biofeedback_payload, mood_payload, state_payload
from edge.settings import Settings

BIOFEEDBACK_MIN_GAP_S = 0.5
BIOFEEDBACK_KEEPALIVE_S = 1.5


class ProfileOutput:
    """Decides, at each turn of the daemon's loop, what the profile publishes."""

    def __init__(self, settings: Settings, fusion: LateFusion, publisher: MqttPublisher,
                 paused: Callable[[], bool], wake: Callable[[], None]) -> None:
        self.s = settings
        self.profile = settings.publish.profile
        self.fusion = fusion
        self.publisher = publisher
        self._paused = paused
        self._wake = wake
        self.audience: AudienceWindow | None = None
        p = settings.publish
        self.interval = {"full": p.interval_s, "mood_light": max(1.0, p.interval_s),
                         "biofeedback": 1.0, "kiosk": p.kiosk_window_s}[self.profile]
        if self.profile == "kiosk":
            self.audience = AudienceWindow(p.kiosk_k, p.kiosk_window_s, p.kiosk_epsilon)
            fusion.add_listener(self.audience.observe)
        if self.profile == "biofeedback":
            fusion.add_listener(self._on_estimate)
        self.next_due = time.monotonic() + self.interval
        self._last_sent = -1e9
        self._last_physio_ts: float | None = None
        self.published = 0

    def _on_estimate(self, est: ModalityEstimate) -> None:
        if est.modality == "physio":
            self._wake()  # biofeedback: publish a new window without waiting for the tick

    def tick(self, now: float, woken: bool) -> None:
        """Publish what is due at monotonic time `now` (`woken`: an event, e.g. the
        privacy switch or a new physiology window, interrupted the wait)."""
        paused = self._paused()
        if self.profile == "kiosk":
            if now < self.next_due:
                return
            self.next_due += self.interval
            assert self.audience is not None
            if paused:
                self.audience.clear()
                return
            payload = self.audience.close(time.time())
            if payload is not None and self.publisher.publish(
                    "audience", self.publisher.topics.audience, payload):
                self.published += 1
            return
        if self.profile == "biofeedback":
            est = self.fusion.latest("physio")
            fresh = est is not None and est.ts != self._last_physio_ts and not paused
            if fresh and now - self._last_sent >= BIOFEEDBACK_MIN_GAP_S:
                pass  # a new window: out at once
            elif not (now >= self.next_due or (woken and paused)):
                return  # else only a keep-alive when windows stop coming, or the pause
            self._last_physio_ts = est.ts if est is not None else None
            age = None if est is None else max(0.0, now - est.ts)
            self._send("biofeedback", self.publisher.topics.biofeedback,
                       biofeedback_payload(est, age, time.time(), paused), now)
            # windows come once a second; the keep-alive waits half a window longer
            self.next_due = now + BIOFEEDBACK_KEEPALIVE_S
            return
        gap_ok = self.profile == "full" or now - self._last_sent >= self.interval
        if now >= self.next_due or (woken and gap_ok):
            state = self.fusion.fuse(now, paused=paused)
            if self.profile == "mood_light":
                self._send("mood", self.publisher.topics.mood, mood_payload(state), now)
            else:
                self._send("state", self.publisher.topics.state, state_payload(state), now)

    def _send(self, kind: str, topic: str, payload: dict[str, object], now: float) -> None:
        if self.publisher.publish(kind, topic, payload):
            self.published += 1
        self._last_sent = now
        self.next_due = max(self.next_due + self.interval, now + 0.5 * self.interval)
