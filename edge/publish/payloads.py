"""Topic names and the Home Assistant discovery config of the MQTT contract (docs/mqtt.md);
each profile builds its own payloads (`edge/profiles/`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge import __version__
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
    def stats(self) -> str:
        return f"{self.base}/stats"

    def of(self, suffix: str) -> str:
        """`<prefix>/<device>/<suffix>`: a profile's topic or command."""
        return f"{self.base}/{suffix}"

    @property
    def privacy_set(self) -> str:
        return f"{self.base}/privacy/set"

    @property
    def privacy_state(self) -> str:
        return f"{self.base}/privacy/state"


def discovery_payload(s: Settings, topics: Topics, profile: Any) -> dict[str, Any]:
    """One device-based Home Assistant discovery config: the profile's entities (`profile`:
    its `Profile` class) and the shared ones (what senses, the privacy switch)."""
    from edge.profiles.base import Entities

    exp = profile.expire_after_s(s)
    entities = Entities(s, exp)
    cmps: dict[str, Any] = dict(profile.components(s, entities, topics.of))
    # privacy controls visible in HA: what senses (and, for the kiosk, its aggregation floor)
    cmps["sensing"] = entities.sensor(
        "sensing", "Sensing",
        "{{ value_json.stages | list | select('in', ['face', 'voice', 'physio']) | join(', ') }}",
        "mdi:eye-check", stat_t=topics.stats, ent_cat="diagnostic",
        exp_aft=max(exp, int(3 * s.publish.stats_interval_s)))
    if "aggregation" in cmps:  # keep the order HA shows them in
        cmps["aggregation"] = cmps.pop("aggregation")
    cmps["privacy"] = {"p": "switch", "name": "Privacy pause",
                       "uniq_id": f"affectd_{s.device.id}_privacy",
                       "stat_t": topics.privacy_state, "cmd_t": topics.privacy_set,
                       "pl_on": "ON", "pl_off": "OFF", "ic": "mdi:eye-off", "ent_cat": "config"}
    return {
        "dev": {"ids": [f"affectd_{s.device.id}"], "name": f"affectd {s.device.id}",
                "mf": "affectd", "mdl": "affectd", "sw": __version__},
        "o": {"name": "affectd", "sw": __version__},
        "stat_t": topics.of(profile.topic),
        "avty_t": topics.availability,
        "pl_avail": "online",
        "pl_not_avail": "offline",
        "qos": s.mqtt.qos,
        "cmps": cmps,
    }
