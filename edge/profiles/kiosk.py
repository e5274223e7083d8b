"""Profile "kiosk": `audience` once per `kiosk_window_s`, aggregated over at least
`kiosk_k` faces (`edge/profiles/audience.py`); nothing else about the people in view
(no `state` at all)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edge.fusion import LateFusion
from edge.profiles.audience import AudienceWindow
from edge.profiles.base import Entities, Profile, Publisher
from edge.settings import Settings


class KioskProfile(Profile):
    name = "kiosk"
    kinds = ("audience",)
    topic = "audience"

    def __init__(self, settings: Settings, fusion: LateFusion, publisher: Publisher,
                 paused: Callable[[], bool], wake: Callable[[], None]) -> None:
        super().__init__(settings, fusion, publisher, paused, wake)
        p = settings.publish
        self.audience = AudienceWindow(p.kiosk_k, p.kiosk_window_s, p.kiosk_epsilon)
        fusion.add_listener(self.audience.observe)

    @classmethod
    def interval_s(cls, settings: Settings) -> float:
        return settings.publish.kiosk_window_s

    @classmethod
    def expire_after_s(cls, settings: Settings) -> int:
        # one message per window, and none below k faces
        return max(settings.publish.expire_after_s, int(3 * settings.publish.kiosk_window_s))

    @classmethod
    def components(cls, settings: Settings, entities: Entities,
                   topic: Callable[[str], str]) -> dict[str, Any]:
        top = ("{% set e = value_json.emotions %}"
               "{{ (e | dictsort(false, 'value') | last)[0] }}")
        p = settings.publish
        floor = f"at least {p.kiosk_k} people per {p.kiosk_window_s:g} s"
        return {"faces": entities.measure("faces", "Audience faces", "mdi:account-group"),
                "valence_mean": entities.measure("valence_mean", "Audience valence",
                                                 "mdi:emoticon-outline"),
                "arousal_mean": entities.measure("arousal_mean", "Audience arousal",
                                                 "mdi:lightning-bolt"),
                "dwell_s_median": entities.measure("dwell_s_median", "Audience dwell",
                                                   "mdi:timer", unit_of_meas="s"),
                "emotion": entities.sensor("top_emotion", "Audience emotion", top,
                                           "mdi:drama-masks"),
                "aggregation": entities.sensor(
                    "aggregation", "Audience aggregation", floor, "mdi:account-multiple-check",
                    stat_t=topic("stats"), ent_cat="diagnostic",
                    exp_aft=max(entities.expire, int(3 * p.stats_interval_s)))}

    def on_pause(self) -> None:
        self.audience.clear()  # nothing seen before the pause is published

    def tick(self, now: float, woken: bool) -> None:
        if now < self.next_due:
            return
        self.next_due += self.interval
        if self._paused():
            self.audience.clear()
            return
        payload = self.audience.close(time.time())
        if payload is not None and self.publisher.publish("audience", self.publisher.topic(
                self.topic), payload):
            self.published += 1


PROFILE = KioskProfile
