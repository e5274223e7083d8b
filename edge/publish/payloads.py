"""Topic names and the Home Assistant discovery config of the MQTT contract (docs/mqtt.md);
each profile builds its own payloads (`edge/profiles/`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.settings import Settings

SCHEMA_VERSION = 1
PROJECT_URL = "https://example.invalid/affectd"
"""Where Home Assistant's device page links (`o.url`)."""
SENSING_TEMPLATE = (
    "{{ 'paused' if value_json.paused | default(false) else value_json.stages | default({}) "
    "| list | select('in', ['face', 'voice', 'physio']) | join(', ') or 'none' }}")
"""The "Sensing" sensor: `paused` during a privacy pause, else the running analyzers."""


def ha_node(s: Settings) -> str:
    """The device's Home Assistant node id: `affectd_<device id>`, with the topic prefix's
    levels after the first (a fleet's site, docs/fleet.md) in between, so that devices of
    the same id on two sites stay two devices: prefix `affectd/site1`, id `door` ->
    `affectd_site1_door`. The default prefix gives `affectd_<id>`."""
    site = [part.lower() for part in s.mqtt.topic_prefix.split("/")[1:]]
    return "_".join(["affectd", *site, s.device.id])


def device_name(s: Settings) -> str:
    """Home Assistant's device name: `affectd <id>`, or `affectd <site>/<id>` on a fleet
    (entity ids then read `sensor.affectd_<site>_<id>_valence`)."""
    site = s.mqtt.topic_prefix.split("/")[1:]
    return "affectd " + "/".join([*site, s.device.id])


@dataclass(frozen=True)
class Topics:
    """All topics of one device."""

    base: str
    discovery: str
    ha_status: str

    @classmethod
    def from_settings(cls, s: Settings) -> Topics:
        base = f"{s.mqtt.topic_prefix}/{s.device.id}"
        disc = f"{s.mqtt.discovery_prefix}/device/{ha_node(s)}/config"
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
        "sensing", "Sensing", SENSING_TEMPLATE,
        "mdi:eye-check", stat_t=topics.stats, ent_cat="diagnostic",
        exp_aft=max(exp, int(3 * s.publish.stats_interval_s)))
    if "aggregation" in cmps:  # keep the order HA shows them in
        cmps["aggregation"] = cmps.pop("aggregation")
    cmps["privacy"] = {"p": "switch", "name": "Privacy pause",
                       "uniq_id": f"{entities.node}_privacy",
                       "stat_t": topics.privacy_state, "cmd_t": topics.privacy_set,
                       "pl_on": "ON", "pl_off": "OFF", "ic": "mdi:eye-off", "ent_cat": "config"}
    payload: dict[str, Any] = {
        "dev": {"ids": [entities.node], "name": device_name(s),
                "mf": "affectd", "mdl": "affectd", "sw": __version__},
        "o": {"name": "affectd", "sw": __version__, "url": PROJECT_URL},
        "stat_t": topics.of(profile.topic),
    }
    if s.mqtt.bridge_state_topic:
        # available only while both the device and its site's bridge are up (docs/fleet.md)
        payload["avty"] = [{"t": topics.availability, "pl_avail": "online",
                            "pl_not_avail": "offline"},
                           {"t": s.mqtt.bridge_state_topic, "pl_avail": "1",
                            "pl_not_avail": "0"}]
        payload["avty_mode"] = "all"
    else:
        payload.update({"avty_t": topics.availability, "pl_avail": "online",
                        "pl_not_avail": "offline"})
    payload.update({"qos": s.mqtt.qos, "cmps": cmps})
    return payload
