"""Topic names and payload builders for the MQTT contract (see docs/mqtt.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.messages import EMOTIONS, FusedState, ModalityEstimate
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
    def mood(self) -> str:
        return f"{self.base}/mood"

    @property
    def biofeedback(self) -> str:
        return f"{self.base}/biofeedback"

    @property
    def audience(self) -> str:
        return f"{self.base}/audience"

    @property
    def calibrate_set(self) -> str:
        return f"{self.base}/calibrate/set"

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
    """One device-based Home Assistant discovery config with the profile's entities."""
    dev_id = s.device.id
    profile = s.publish.profile
    exp = s.publish.expire_after_s
    if profile == "kiosk":  # one message per window, and none below k faces
        exp = max(exp, int(3 * s.publish.kiosk_window_s))

    def sensor(key: str, name: str, tpl: str, icon: str, **extra: Any) -> dict[str, Any]:
        return {"p": "sensor", "name": name, "uniq_id": f"affectd_{dev_id}_{key}",
                "val_tpl": tpl, "exp_aft": exp, "ic": icon, **extra}

    num = "{{{{ value_json.{0} }}}}"

    def measure(key: str, name: str, icon: str, **extra: Any) -> dict[str, Any]:
        return sensor(key, name, num.format(key), icon, stat_cla="measurement", **extra)

    emotion = sensor("emotion", "Emotion", "{{ value_json.emotion or 'none' }}",
                     "mdi:drama-masks", dev_cla="enum", ops=[*EMOTIONS, "none"])
    cmps: dict[str, Any]
    if profile == "kiosk":
        top = ("{% set e = value_json.emotions %}"
               "{{ (e | dictsort(false, 'value') | last)[0] }}")
        cmps = {"faces": measure("faces", "Audience faces", "mdi:account-group"),
                "valence_mean": measure("valence_mean", "Audience valence",
                                        "mdi:emoticon-outline"),
                "arousal_mean": measure("arousal_mean", "Audience arousal",
                                        "mdi:lightning-bolt"),
                "dwell_s_median": measure("dwell_s_median", "Audience dwell", "mdi:timer",
                                          unit_of_meas="s"),
                "emotion": sensor("top_emotion", "Audience emotion", top, "mdi:drama-masks")}
    elif profile == "biofeedback":
        cmps = {"stress": measure("stress", "Stress", "mdi:heart-pulse"),
                "hr": measure("hr_bpm", "Heart rate", "mdi:heart", unit_of_meas="bpm"),
                "rmssd": measure("rmssd_ms", "HRV (RMSSD)", "mdi:heart-flash",
                                 unit_of_meas="ms"),
                "breathing": measure("breathing_bpm", "Breathing pace", "mdi:weather-windy",
                                     unit_of_meas="br/min"),
                "calibrate": {"p": "button", "name": "Calibrate baseline",
                              "uniq_id": f"affectd_{dev_id}_calibrate",
                              "cmd_t": topics.calibrate_set, "pl_prs": "START",
                              "ic": "mdi:tune", "ent_cat": "config"}}
    elif profile == "mood_light":
        cmps = {"valence": measure("valence", "Valence", "mdi:emoticon-outline"),
                "arousal": measure("arousal", "Arousal", "mdi:lightning-bolt"),
                "confidence": measure("confidence", "Confidence", "mdi:gauge"),
                "emotion": emotion}
    else:
        cmps = {"valence": measure("valence", "Valence", "mdi:emoticon-outline"),
                "arousal": measure("arousal", "Arousal", "mdi:lightning-bolt"),
                "stress": measure("stress", "Stress", "mdi:heart-pulse"),
                "confidence": measure("confidence", "Confidence", "mdi:gauge"),
                "emotion": emotion}
    # privacy controls visible in HA: what senses, and the kiosk's aggregation floor
    cmps["sensing"] = sensor(
        "sensing", "Sensing",
        "{{ value_json.stages | list | select('in', ['face', 'voice', 'physio']) | join(', ') }}",
        "mdi:eye-check", stat_t=topics.stats, ent_cat="diagnostic",
        exp_aft=max(exp, int(3 * s.publish.stats_interval_s)))
    if profile == "kiosk":
        floor = f"at least {s.publish.kiosk_k} people per {s.publish.kiosk_window_s:g} s"
        cmps["aggregation"] = sensor("aggregation", "Audience aggregation", floor,
                                     "mdi:account-multiple-check", stat_t=topics.stats,
                                     ent_cat="diagnostic",
                                     exp_aft=max(exp, int(3 * s.publish.stats_interval_s)))
    cmps["privacy"] = {"p": "switch", "name": "Privacy pause",
                       "uniq_id": f"affectd_{dev_id}_privacy", "stat_t": topics.privacy_state,
                       "cmd_t": topics.privacy_set, "pl_on": "ON", "pl_off": "OFF",
                       "ic": "mdi:eye-off", "ent_cat": "config"}
    state_topic = {"full": topics.state, "mood_light": topics.mood,
                   "biofeedback": topics.biofeedback, "kiosk": topics.audience}[profile]
    return {
        "dev": {"ids": [f"affectd_{dev_id}"], "name": f"affectd {dev_id}", "mf": "affectd",
                "mdl": "affectd", "sw": __version__},
        "o": {"name": "affectd", "sw": __version__},
        "stat_t": state_topic,
        "avty_t": topics.availability,
        "pl_avail": "online",
        "pl_not_avail": "offline",
        "qos": s.mqtt.qos,
        "cmps": cmps,
    }


def mood_payload(state: FusedState) -> dict[str, Any]:
    """`mood_light`: the smoothed, dwell-limited values a lamp needs, nothing else."""
    return {"schema": SCHEMA_VERSION, "ts": round(state.ts, 3), "paused": state.paused,
            "valence": state.valence, "arousal": state.arousal, "emotion": state.emotion,
            "confidence": state.confidence}


def breathing_pace(stress: float | None) -> float | None:
    """Suggested breaths per minute: 10 when relaxed, slowing linearly to 6 (the resonance
    pace of HRV biofeedback, about 0.1 Hz) as stress reaches 1. A guide, not a diagnosis."""
    if stress is None:
        return None
    return round(6.0 + 4.0 * (1.0 - max(0.0, min(1.0, stress))), 1)


def biofeedback_payload(est: ModalityEstimate | None, age_s: float | None, wall: float,
                        paused: bool) -> dict[str, Any]:
    """`biofeedback`: the physiology's latest window, unsmoothed (lowest latency)."""
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
