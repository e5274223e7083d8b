"""Home Assistant discovery over a device's life: what was announced, stubs for the
components a profile no longer has, and clearing a config that is gone.

Home Assistant's device-based discovery removes a component only when the device sends
it once as `{"p": "<platform>"}`; a component merely left out of `cmps` stays behind as
an orphan entity. An empty retained config removes the whole device. So the daemon keeps
a record, `discovery.json` in the state directory, of what it last announced: the
discovery topic, the device's base topic and each component's platform (nothing about
people). At the next connection `plan` compares it with what the settings announce now:

- a component that is gone is sent as a stub (for as long as this process runs);
- a discovery topic that changed (device id or prefix) or discovery turned off clears the
  old retained config with an empty payload;
- a base topic that changed (device id or topic prefix) also clears the old device's
  retained `availability` and `privacy/state`.

`affectd discovery --clear` does the same by hand for a device that is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.statedir import write_record

log = logging.getLogger(__name__)

RECORD_FILE = "discovery.json"


@dataclass(frozen=True)
class Announced:
    """What a device announces (or announced) to Home Assistant."""

    base: str
    """The device's base topic `<topic_prefix>/<device id>`."""
    discovery: str | None
    """Its discovery config topic; None when discovery is off."""
    components: dict[str, str] = field(default_factory=dict)
    """Component key -> platform (`sensor`, `switch`, `button`) of what it announced."""

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "discovery": self.discovery,
                "components": dict(self.components)}

    @classmethod
    def from_json(cls, data: Any) -> Announced | None:
        if not isinstance(data, dict) or not isinstance(data.get("base"), str):
            return None
        disc = data.get("discovery")
        comps = data.get("components") or {}
        if (disc is not None and not isinstance(disc, str)) or not isinstance(comps, dict):
            return None
        return cls(data["base"], disc, {str(k): str(v) for k, v in comps.items()})


def retained_topics(base: str) -> tuple[str, ...]:
    """The retained topics of a device's own (besides its discovery config)."""
    return (f"{base}/availability", f"{base}/privacy/state")


@dataclass(frozen=True)
class Plan:
    """What to do at a connection before announcing `current`."""

    clear: tuple[str, ...]
    """Retained topics to empty (old discovery config, old device's retained topics)."""
    stubs: dict[str, str]
    """Components to send as `{"p": platform}` (removed since the last announcement)."""


def plan(previous: Announced | None, current: Announced) -> Plan:
    """Compare the last announcement with the current one (see the module's docstring)."""
    if previous is None:
        return Plan((), {})
    clear: list[str] = []
    stubs: dict[str, str] = {}
    if previous.discovery is not None and previous.discovery != current.discovery:
        clear.append(previous.discovery)
    if previous.base != current.base:
        clear += retained_topics(previous.base)
    if current.discovery is not None and previous.discovery == current.discovery:
        stubs = {k: p for k, p in previous.components.items()
                 if k not in current.components or current.components[k] != p}
    return Plan(tuple(clear), stubs)


def with_stubs(payload: dict[str, Any], stubs: dict[str, str]) -> dict[str, Any]:
    """The discovery payload with a `{"p": platform}` entry for every removed component."""
    cmps = dict(payload["cmps"])
    for key, platform in stubs.items():
        cmps.setdefault(key, {"p": platform})
    return {**payload, "cmps": cmps}


def announced(base: str, discovery_topic: str | None,
              payload: dict[str, Any] | None) -> Announced:
    """The record of announcing `payload` (None: discovery off) on `discovery_topic`."""
    comps = {} if payload is None else {
        k: str(v["p"]) for k, v in payload["cmps"].items() if len(v) > 1}
    return Announced(base, discovery_topic if payload is not None else None, comps)


class DiscoveryRecord:
    """`discovery.json` in the state directory: the last announcement (best effort: a state
    directory that cannot be written keeps the daemon running and is reported as a fault)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RECORD_FILE
        self.fault: str | None = None
        self._pending: Announced | None = None

    def load(self) -> Announced | None:
        try:
            return Announced.from_json(json.loads(self.path.read_text("utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable %s (%s): nothing to clean up assumed", self.path, exc)
            return None

    def save(self, record: Announced) -> None:
        self.fault = write_record(self.path, json.dumps(record.to_json(), sort_keys=True))
        self._pending = record if self.fault else None
        if self.fault:
            log.error("cannot record the discovery config: %s", self.fault)

    def retry(self) -> None:
        """Save again what could not be saved (the state directory may have room now)."""
        if self._pending is not None:
            self.save(self._pending)

    def forget(self, discovery_topic: str) -> None:
        """Drop the record when it is about `discovery_topic` (that config was cleared)."""
        rec = self.load()
        if rec is not None and rec.discovery == discovery_topic:
            with contextlib.suppress(OSError):
                self.path.unlink()
