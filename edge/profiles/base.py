"""The publishing profile's base: what a profile declares and what they all share.

A profile (one file in `edge/profiles/`, named after it, defining `PROFILE`)
declares the payload kinds it publishes (each a `$defs` entry of
`edge/schema/payloads.schema.json`, checked at the publish boundary), the topic of
its message, the commands it listens to, its Home Assistant entities and its
interval; `tick` decides, at each turn of the daemon's loop, what goes out.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from edge.fusion import LateFusion
from edge.settings import Settings


class Publisher(Protocol):
    """What a profile needs of the MQTT publisher (`edge.publish.mqtt.MqttPublisher`)."""

    def publish(self, kind: str, topic: str, payload: Any, retain: bool = False,
                buffer: bool = True) -> bool: ...

    def topic(self, suffix: str) -> str: ...


class Entities:
    """Builders of the Home Assistant discovery components (abbreviated keys)."""

    def __init__(self, settings: Settings, expire_after_s: int) -> None:
        from edge.publish.payloads import ha_node

        self.node = ha_node(settings)
        """Prefix of every unique id (`affectd_<device id>`, a fleet's site in between)."""
        self.expire = expire_after_s

    def sensor(self, key: str, name: str, tpl: str, icon: str, **extra: Any) -> dict[str, Any]:
        return {"p": "sensor", "name": name, "uniq_id": f"{self.node}_{key}",
                "val_tpl": tpl, "exp_aft": self.expire, "ic": icon, **extra}

    def measure(self, key: str, name: str, icon: str, **extra: Any) -> dict[str, Any]:
        return self.sensor(key, name, f"{{{{ value_json.{key} }}}}", icon,
                           stat_cla="measurement", **extra)


class Profile(abc.ABC):
    """One publishing profile of the daemon (`publish.profile`)."""

    name: ClassVar[str]
    """The value of `publish.profile` that chooses it (its file name)."""
    kinds: ClassVar[tuple[str, ...]]
    """Payload kinds it publishes besides availability, privacy, stats and discovery."""
    topic: ClassVar[str]
    """Suffix of the topic of its message (`<prefix>/<device>/<topic>`)."""
    commands: ClassVar[dict[str, str]] = {}
    """Commands it listens to on `<prefix>/<device>/<command>/set`, with the one payload
    each accepts (e.g. {"calibrate": "START"})."""

    def __init__(self, settings: Settings, fusion: LateFusion, publisher: Publisher,
                 paused: Callable[[], bool], wake: Callable[[], None]) -> None:
        self.s = settings
        self.fusion = fusion
        self.publisher = publisher
        self._paused = paused
        self._wake = wake
        self.interval = self.interval_s(settings)
        self.next_due = time.monotonic() + self.interval
        self._last_sent = -1e9
        self.published = 0

    @classmethod
    @abc.abstractmethod
    def interval_s(cls, settings: Settings) -> float:
        """Seconds between its messages."""

    @classmethod
    def expire_after_s(cls, settings: Settings) -> int:
        """Home Assistant's `expire_after` for its sensors."""
        return settings.publish.expire_after_s

    @classmethod
    @abc.abstractmethod
    def components(cls, settings: Settings, entities: Entities,
                   topic: Callable[[str], str]) -> dict[str, Any]:
        """Its Home Assistant entities (discovery `cmps`), without the shared ones."""

    @abc.abstractmethod
    def tick(self, now: float, woken: bool) -> None:
        """Publish what is due at monotonic time `now` (`woken`: an event, e.g. the
        privacy switch or a new physiology window, interrupted the wait)."""

    def on_pause(self) -> None:  # noqa: B027 - optional hook: most profiles keep nothing
        """The privacy pause began: forget what was gathered for later messages."""

    def stats(self) -> dict[str, object]:
        """Entries the profile adds to the device's `stats` message (most add none)."""
        return {}

    def send(self, kind: str, payload: dict[str, object], now: float) -> None:
        """Publish one message of the profile and schedule the next."""
        if self.publisher.publish(kind, self.publisher.topic(self.topic), payload):
            self.published += 1
        self._last_sent = now
        self.next_due = max(self.next_due + self.interval, now + 0.5 * self.interval)
