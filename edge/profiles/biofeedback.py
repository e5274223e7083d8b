"""Profile "biofeedback": `biofeedback` (the physiology's latest window unsmoothed: stress,
HR, RMSSD, a breathing pace) as soon as a new window is analysed (the analyzer makes one
a second; at most two a second go out), and a keep-alive repeating the last one with its
growing `age_s` when none came for 1.5 s; `calibrate/set START` restarts the wearer's
baseline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from edge.fusion import LateFusion
from edge.messages import ModalityEstimate
from edge.profiles.base import Entities, Profile, Publisher
from edge.publish.payloads import SCHEMA_VERSION
from edge.settings import Settings

MIN_GAP_S = 0.5
KEEPALIVE_S = 1.5


def breathing_pace(stress: float | None) -> float | None:
    """Suggested breaths per minute: 10 when relaxed, slowing linearly to 6 (the resonance
    pace of HRV biofeedback, about 0.1 Hz) as stress reaches 1. A guide, not a diagnosis."""
    if stress is None:
        return None
    return round(6.0 + 4.0 * (1.0 - max(0.0, min(1.0, stress))), 1)


def biofeedback_payload(est: ModalityEstimate | None, age_s: float | None, wall: float,
                        paused: bool) -> dict[str, Any]:
    """The physiology's latest window, unsmoothed (lowest latency)."""
    if paused or est is None:
        return {"schema": SCHEMA_VERSION, "ts": round(wall, 3), "paused": paused,
                "stress": None, "arousal": None, "hr_bpm": None, "rmssd_ms": None,
                "breathing_bpm": None, "calibrating": False, "age_s": None}
    return {"schema": SCHEMA_VERSION, "ts": round(wall, 3), "paused": False,
            "stress": None if est.stress is None else round(est.stress, 4),
            "arousal": None if est.arousal is None else round(est.arousal, 4),
            "hr_bpm": est.metrics.get("hr_bpm"), "rmssd_ms": est.metrics.get("rmssd_ms"),
            "breathing_bpm": breathing_pace(est.stress),
            "calibrating": est.stress is None,
            "age_s": None if age_s is None else round(age_s, 3)}


class BiofeedbackProfile(Profile):
    name = "biofeedback"
    kinds = ("biofeedback",)
    topic = "biofeedback"
    commands: ClassVar[dict[str, str]] = {"calibrate": "START"}

    def __init__(self, settings: Settings, fusion: LateFusion, publisher: Publisher,
                 paused: Callable[[], bool], wake: Callable[[], None]) -> None:
        super().__init__(settings, fusion, publisher, paused, wake)
        self._last_physio_ts: float | None = None
        fusion.add_listener(self._on_estimate)

    @classmethod
    def interval_s(cls, settings: Settings) -> float:
        return 1.0

    @classmethod
    def components(cls, settings: Settings, entities: Entities,
                   topic: Callable[[str], str]) -> dict[str, Any]:
        return {"stress": entities.measure("stress", "Stress", "mdi:heart-pulse"),
                "hr": entities.measure("hr_bpm", "Heart rate", "mdi:heart", unit_of_meas="bpm"),
                "rmssd": entities.measure("rmssd_ms", "HRV (RMSSD)", "mdi:heart-flash",
                                          unit_of_meas="ms"),
                "breathing": entities.measure("breathing_bpm", "Breathing pace",
                                              "mdi:weather-windy", unit_of_meas="br/min"),
                "calibrate": {"p": "button", "name": "Calibrate baseline",
                              "uniq_id": f"{entities.node}_calibrate",
                              "cmd_t": topic("calibrate/set"), "pl_prs": "START",
                              "ic": "mdi:tune", "ent_cat": "config"}}

    def _on_estimate(self, est: ModalityEstimate) -> None:
        if est.modality == "physio":
            self._wake()  # publish a new window without waiting for the tick

    def tick(self, now: float, woken: bool) -> None:
        paused = self._paused()
        est = self.fusion.latest("physio")
        fresh = est is not None and est.ts != self._last_physio_ts and not paused
        if fresh and now - self._last_sent >= MIN_GAP_S:
            pass  # a new window: out at once
        elif not (now >= self.next_due or (woken and paused)):
            return  # else only a keep-alive when windows stop coming, or the pause
        self._last_physio_ts = est.ts if est is not None else None
        age = None if est is None else max(0.0, now - est.ts)
        self.send("biofeedback", biofeedback_payload(est, age, time.time(), paused), now)
        # windows come once a second; the keep-alive waits half a window longer
        self.next_due = now + KEEPALIVE_S


PROFILE = BiofeedbackProfile
