"""Topic names and payload builders for the MQTT contract (see docs/mqtt.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.messages import EMOTIONS, FusedState
from edge.settings import Settings

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Topics:
    """All topics of one device."""

    base: str
    discovery: str
    ha_status: str

    @classmethod
    def from_settings(cls, s: Settings) -> Topics:
        base = f"{s.mqtt.topic_prefix}/{s.device.id}"
        disc = f"{s.mqtt.discovery_prefix}/device/affectd_{s.device.id}/config"
        return cls(base, disc, f"{s.mqtt.discovery_prefix}/status")

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    @property
    def privacy_set(self) -> str:
        return f"{self.base}/privacy/set"

    @property
    def privacy_state(self) -> str:
        return f"{self.base}/privacy/state"


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


def discovery_payload(s: Settings, topics: Topics) -> dict[str, Any]:
    """One device-based Home Assistant discovery config with all entities."""
    dev_id = s.device.id
    exp = s.publish.expire_after_s

    def sensor(key: str, name: str, tpl: str, icon: str, **extra: Any) -> dict[str, Any]:
        return {"p": "sensor", "name": name, "uniq_id": f"affectd_{dev_id}_{key}",
                "val_tpl": tpl, "exp_aft": exp, "ic": icon, **extra}

    num = "{{{{ value_json.{0} }}}}"
    cmps = {
        "valence": sensor("valence", "Valence", num.format("valence"), "mdi:emoticon-outline",
                          stat_cla="measurement"),
        "arousal": sensor("arousal", "Arousal", num.format("arousal"), "mdi:lightning-bolt",
                          stat_cla="measurement"),
        "stress": sensor("stress", "Stress", num.format("stress"), "mdi:heart-pulse",
                         stat_cla="measurement"),
        "confidence": sensor("confidence", "Confidence", num.format("confidence"),
                             "mdi:gauge", stat_cla="measurement"),
        "emotion": sensor("emotion", "Emotion", "{{ value_json.emotion or 'none' }}",
                          "mdi:drama-masks", dev_cla="enum", ops=[*EMOTIONS, "none"]),
        "privacy": {"p": "switch", "name": "Privacy pause", "uniq_id": f"affectd_{dev_id}_privacy",
                    "stat_t": topics.privacy_state, "cmd_t": topics.privacy_set,
                    "pl_on": "ON", "pl_off": "OFF", "ic": "mdi:eye-off", "ent_cat": "config"},
    }
    return {
        "dev": {"ids": [f"affectd_{dev_id}"], "name": f"affectd {dev_id}", "mf": "affectd",
                "mdl": "affectd", "sw": __version__},
        "o": {"name": "affectd", "sw": __version__},
        "stat_t": topics.state,
        "avty_t": topics.availability,
        "pl_avail": "online",
        "pl_not_avail": "offline",
        "qos": s.mqtt.qos,
        "cmps": cmps,
    }
