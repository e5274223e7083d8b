"""Profile "kiosk": `audience` once per `kiosk_window_s`, aggregated over at least
`kiosk_k` faces (`edge/profiles/audience.py`); nothing else about the people in view
(no `state` at all)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edge.fusion import LateFusion
from edge.messages import EMOTIONS
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
        self.withheld = 0  # windows that closed with fewer than k people: nothing published

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
        # the leading emotion; 'none' when the message has no (or empty) counts
        top = ("{% set e = value_json.emotions | default({}) %}"
               "{{ (e | dictsort(false, 'value') | last)[0] if e else 'none' }}")
        p = settings.publish
        return {"faces": entities.measure("faces", "Audience faces", "mdi:account-group"),
                "valence_mean": entities.measure("valence_mean", "Audience valence",
                                                 "mdi:emoticon-outline"),
                "arousal_mean": entities.measure("arousal_mean", "Audience arousal",
                                                 "mdi:lightning-bolt"),
                "dwell_s_median": entities.measure("dwell_s_median", "Audience dwell",
                                                   "mdi:timer", unit_of_meas="s"),
                # its own key and unique id: not the full profile's per-person "emotion"
                "top_emotion": entities.sensor("top_emotion", "Audience emotion", top,
                                               "mdi:drama-masks", dev_cla="enum",
                                               ops=[*EMOTIONS, "none"]),
                # the k floor in force, as the device reports it in `stats`; the window,
                # the noise and the windows published / withheld (below k) as attributes
                "aggregation": entities.sensor(
                    "aggregation", "Audience aggregation",
                    "{{ (value_json.audience | default({})).k | default('unknown') }}",
                    "mdi:account-multiple-check", stat_t=topic("stats"), ent_cat="diagnostic",
                    json_attr_t=topic("stats"),
                    json_attr_tpl="{{ value_json.audience | default({}) | tojson }}",
                    exp_aft=max(entities.expire, int(3 * p.stats_interval_s)))}

    def on_pause(self) -> None:
        self.audience.clear()  # nothing seen before the pause is published

    def stats(self) -> dict[str, object]:
        p = self.s.publish
        return {"audience": {"k": p.kiosk_k, "window_s": p.kiosk_window_s,
                             "epsilon": p.kiosk_epsilon or None, "windows": self.published,
                             "withheld": self.withheld}}

    def tick(self, now: float, woken: bool) -> None:
        if now < self.next_due:
            return
        self.next_due += self.interval
        if self._paused():
            self.audience.clear()
            return
        payload = self.audience.close(time.time())
        if payload is None:
            self.withheld += 1
        elif self.publisher.publish("audience", self.publisher.topic(
                self.topic), payload):
            self.published += 1


PROFILE = KioskProfile
