"""Profile "mood_light": `mood` (smoothed valence, arousal, dwell-limited emotion,
confidence) at most once a second, for lamps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.messages import FusedState
from edge.profiles.base import Entities, Profile
from edge.profiles.full import FullProfile
from edge.publish.payloads import SCHEMA_VERSION
from edge.settings import Settings


def mood_payload(state: FusedState) -> dict[str, Any]:
    """The smoothed, dwell-limited values a lamp needs, nothing else."""
    return {"schema": SCHEMA_VERSION, "ts": round(state.ts, 3), "paused": state.paused,
            "valence": state.valence, "arousal": state.arousal, "emotion": state.emotion,
            "confidence": state.confidence}


class MoodLightProfile(Profile):
    name = "mood_light"
    kinds = ("mood",)
    topic = "mood"

    @classmethod
    def interval_s(cls, settings: Settings) -> float:
        return max(1.0, settings.publish.interval_s)

    @classmethod
    def components(cls, settings: Settings, entities: Entities,
                   topic: Callable[[str], str]) -> dict[str, Any]:
        # the full profile's entities but stress (a lamp shows mood, not strain)
        full = FullProfile.components(settings, entities, topic)
        return {k: v for k, v in full.items() if k != "stress"}

    def tick(self, now: float, woken: bool) -> None:
        gap_ok = now - self._last_sent >= self.interval
        if now >= self.next_due or (woken and gap_ok):
            state = self.fusion.fuse(now, paused=self._paused())
            self.send("mood", mood_payload(state), now)


PROFILE = MoodLightProfile
