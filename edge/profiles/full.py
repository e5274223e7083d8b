"""Profile "full": `state` (everything fused) every `publish.interval_s`, and at once when
the privacy switch changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.messages import EMOTIONS, FusedState
from edge.profiles.base import Entities, Profile
from edge.publish.payloads import SCHEMA_VERSION
from edge.settings import Settings


def state_payload(state: FusedState) -> dict[str, Any]:
    mods: dict[str, Any] = {}
    for name, st in state.modalities.items():
        entry: dict[str, Any] = {"present": st.present, "quality": st.quality, "age_s": st.age_s}
        if st.faces is not None:
            entry["faces"] = st.faces
        mods[name] = entry
    payload: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "ts": round(state.ts, 3),
        "paused": state.paused,
        "valence": state.valence,
        "arousal": state.arousal,
        "stress": state.stress,
        "emotion": state.emotion,
        "probs": state.probs,
        "confidence": state.confidence,
        "modalities": mods,
    }
    if state.metrics:
        payload["metrics"] = dict(state.metrics)
    return payload


def emotion_entity(entities: Entities) -> dict[str, Any]:
    """The fused emotion as an enum sensor (shared with `mood_light`)."""
    return entities.sensor("emotion", "Emotion", "{{ value_json.emotion or 'none' }}",
                           "mdi:drama-masks", dev_cla="enum", ops=[*EMOTIONS, "none"])


class FullProfile(Profile):
    name = "full"
    kinds = ("state",)
    topic = "state"

    @classmethod
    def interval_s(cls, settings: Settings) -> float:
        return settings.publish.interval_s

    @classmethod
    def components(cls, settings: Settings, entities: Entities,
                   topic: Callable[[str], str]) -> dict[str, Any]:
        return {"valence": entities.measure("valence", "Valence", "mdi:emoticon-outline"),
                "arousal": entities.measure("arousal", "Arousal", "mdi:lightning-bolt"),
                "stress": entities.measure("stress", "Stress", "mdi:heart-pulse"),
                "confidence": entities.measure("confidence", "Confidence", "mdi:gauge"),
                "emotion": emotion_entity(entities)}

    def tick(self, now: float, woken: bool) -> None:
        if now >= self.next_due or woken:
            state = self.fusion.fuse(now, paused=self._paused())
            self.send("state", state_payload(state), now)


PROFILE = FullProfile
