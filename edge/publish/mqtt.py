"""MQTT publisher over paho-mqtt 2.x: availability with last will, reconnect with
backoff, a bounded offline buffer, Home Assistant discovery and the privacy switch.

paho's network thread (`loop_start`) does the I/O and reconnects by itself with
`reconnect_delay_set` backoff. While disconnected, messages go to a bounded
deque; when it is full the oldest is dropped and counted. On every (re)connect
the device announces `online`, re-publishes discovery (with stubs for removed
components and the old config cleared, `edge/publish/discovery.py`) and the privacy
state, then flushes the buffer in order. Home Assistant's birth message makes it re-send
discovery after a random delay. All payloads pass `PayloadGate` first.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import mqtt_password
from edge.publish.discovery import DiscoveryRecord, announced, plan, retained_topics, with_stubs
from edge.publish.gate import PayloadGate, PayloadRefused
from edge.publish.payloads import Topics, discovery_payload
from edge.settings import Settings

log = logging.getLogger(__name__)


def new_client(s: Settings, client_id: str) -> mqtt.Client:
    """A paho client with the config's protocol, credentials and TLS (not connected)."""
    m = s.mqtt
    protocol = mqtt.MQTTv5 if m.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    if m.username:
        client.username_pw_set(m.username, mqtt_password(s))
    if m.tls:
        client.tls_set(ca_certs=str(m.ca_file) if m.ca_file else None,
                       certfile=str(m.cert_file) if m.cert_file else None,
                       keyfile=str(m.key_file) if m.key_file else None,
                       cert_reqs=ssl.CERT_REQUIRED)
    return client


class MqttPublisher:
    """Publishes the daemon's messages; calls `on_privacy(bool)` for `privacy/set` commands."""

    def __init__(self, settings: Settings, on_privacy: Callable[[bool], None],
                 privacy_on: Callable[[], bool],
                 commands: dict[str, Callable[[], None]] | None = None) -> None:
        """`commands`: handlers of the profile's commands (`Profile.commands`) by name;
        the profile's command topics are subscribed to only when a handler is given."""
        from edge.profiles import profile_class

        self.s = settings
        self.profile = profile_class(settings.publish.profile)
        self.topics = Topics.from_settings(settings)
        self.gate = PayloadGate(self.profile.kinds)
        self._on_privacy = on_privacy
        handlers = commands or {}
        self._commands = {self.topics.of(f"{name}/set"): (payload, handlers[name])
                          for name, payload in self.profile.commands.items() if name in handlers}
        self._privacy_on = privacy_on
        self._lock = threading.Lock()
        self._buffer: deque[tuple[str, bytes, int, bool]] = deque()
        self._connected = threading.Event()
        self.sent = 0
        self.dropped = 0
        self.reconnects = 0
        self.bad_commands = 0
        self._stopping = False
        self.connect_failures = 0
        self.record = DiscoveryRecord(settings.device.state_dir)
        self._stubs: dict[str, str] = {}
        self._rng = random.Random()
        self._resend: threading.Timer | None = None
        self._client = self._make_client()

    # -- setup -----------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        m = self.s.mqtt
        client = new_client(self.s, m.client_id or f"affectd-{self.s.device.id}")
        client.will_set(self.topics.availability, self.gate.check("availability", "offline"),
                        qos=1, retain=True)
        client.reconnect_delay_set(max(1, int(m.reconnect_min_s)), max(1, int(m.reconnect_max_s)))
        # paho's own queue holds what is in flight; room for a full flush plus announcements.
        client.max_queued_messages_set(2 * m.offline_buffer + 64)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        m = self.s.mqtt
        self._client.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        self._client.loop_start()

    def stop(self, timeout: float = 3.0) -> None:
        """Announce `offline` (best effort) and disconnect."""
        if self._connected.is_set():
            try:
                info = self._client.publish(self.topics.availability,
                                            self.gate.check("availability", "offline"),
                                            qos=1, retain=True)
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass
        self._stopping = True
        if self._resend is not None:
            self._resend.cancel()
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- callbacks (paho's network thread) ---------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT connection refused: %s", reason)
            return
        log.info("MQTT connected to %s:%s", self.s.mqtt.host, self.s.mqtt.port)
        client.subscribe(self.topics.privacy_set, qos=1)
        for topic in self._commands:
            client.subscribe(topic, qos=1)
        if self.s.mqtt.discovery:
            client.subscribe(self.topics.ha_status, qos=1)
        self._raw_publish(self.topics.availability, self.gate.check("availability", "online"),
                          1, True)
        self.publish_privacy_state()
        self._announce()
        with self._lock:
            self._connected.set()
            pending = list(self._buffer)
            self._buffer.clear()
        for topic, raw, qos, retain in pending:
            self._raw_publish(topic, raw, qos, retain)

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        self.connect_failures += 1
        if self.connect_failures in (1, 10) or self.connect_failures % 100 == 0:
            log.warning("MQTT connection to %s:%s failed (%d tries; TLS, credentials or "
                        "network); retrying with backoff", self.s.mqtt.host, self.s.mqtt.port,
                        self.connect_failures)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._connected.is_set() and not self._stopping:
            self.reconnects += 1
            log.warning("MQTT disconnected (%s); buffering up to %d messages",
                        reason, self.s.mqtt.offline_buffer)
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            text = msg.payload.decode("ascii").strip().upper()
        except UnicodeDecodeError:
            text = ""
        if msg.topic == self.topics.ha_status:
            if text == "ONLINE" and self.s.mqtt.discovery:
                self._resend_later()
            return
        if msg.topic == self.topics.privacy_set and text in ("ON", "OFF"):
            self._on_privacy(text == "ON")
            return
        command = self._commands.get(msg.topic)
        if command is not None and text == command[0]:
            command[1]()
            return
        self.bad_commands += 1
        log.warning("ignored command on %s (%d bytes)", msg.topic, len(msg.payload))

    # -- publishing ----------------------------------------------------------------
    def _raw_publish(self, topic: str, raw: bytes, qos: int, retain: bool) -> None:
        info = self._client.publish(topic, raw, qos=qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.sent += 1
        elif info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1

    def publish(self, kind: str, topic: str, payload: Any, retain: bool = False,
                buffer: bool = True) -> bool:
        """Gate and send; while offline, buffer (bounded, drop-oldest) when `buffer`."""
        try:
            raw = self.gate.check(kind, payload)
        except PayloadRefused:
            return False
        qos = self.s.mqtt.qos
        with self._lock:
            if not self._connected.is_set():
                if buffer and self.s.mqtt.offline_buffer > 0:
                    if len(self._buffer) >= self.s.mqtt.offline_buffer:
                        self._buffer.popleft()
                        self.dropped += 1
                    self._buffer.append((topic, raw, qos, retain))
                else:
                    self.dropped += 1
                return False
        self._raw_publish(topic, raw, qos, retain)
        return True

    def _announce(self) -> None:
        """On (re)connect: clean up what an earlier announcement left, then announce."""
        payload = discovery_payload(self.s, self.topics, self.profile) \
            if self.s.mqtt.discovery else None
        current = announced(self.topics.base, self.topics.discovery, payload)
        previous = self.record.load()
        todo = plan(previous, current)
        for topic in todo.clear:
            log.info("clearing the retained %s (no longer this device's)", topic)
            self._raw_publish(topic, b"", 1, True)
        self._stubs.update(todo.stubs)
        if payload is not None:
            self.publish_discovery(payload)
        if current != previous:  # a board's SD card: no write per reconnect
            self.record.save(current)

    def _resend_later(self) -> None:
        """Home Assistant (re)started: re-send discovery after a random delay, so that a
        fleet of devices does not answer its birth message all at once."""
        if self._resend is not None:
            self._resend.cancel()
        delay = self._rng.uniform(0.0, self.s.mqtt.birth_delay_max_s)
        self._resend = threading.Timer(delay, self.publish_discovery)
        self._resend.daemon = True
        self._resend.start()

    def publish_discovery(self, payload: dict[str, Any] | None = None) -> None:
        """Send the discovery config (`payload`: already built for this connection)."""
        payload = with_stubs(payload or discovery_payload(self.s, self.topics, self.profile),
                             self._stubs)
        try:
            raw = self.gate.check("discovery", payload)
        except PayloadRefused:
            return
        self._raw_publish(self.topics.discovery, raw, 1, True)

    def publish_privacy_state(self) -> None:
        raw = self.gate.check("privacy_state", "ON" if self._privacy_on() else "OFF")
        self._raw_publish(self.topics.privacy_state, raw, 1, True)

    @property
    def fault(self) -> str | None:
        """A problem of the publisher's own to report in `stats`: the discovery record that
        could not be saved (retried each time this is asked, i.e. with every `stats`)."""
        self.record.retry()
        return self.record.fault

    def topic(self, suffix: str) -> str:
        """The device's topic `<prefix>/<device>/<suffix>`."""
        return self.topics.of(suffix)

    def counters(self) -> dict[str, int]:
        with self._lock:
            buffered = len(self._buffer)
        return {"sent": self.sent, "buffered": buffered, "dropped": self.dropped,
                "refused": self.gate.refused, "reconnects": self.reconnects,
                "bad_commands": self.bad_commands}


def clear_device(s: Settings, device_id: str | None = None, timeout: float = 10.0) -> list[str]:
    """Empty the retained discovery config, availability and privacy state of a device (by
    default the config's own) on the config's broker; return the topics cleared. Home
    Assistant then removes the device and its entities."""
    import dataclasses

    if device_id is not None:
        s = dataclasses.replace(s, device=dataclasses.replace(s.device, id=device_id))
    topics = Topics.from_settings(s)
    targets = [topics.discovery, *retained_topics(topics.base)]
    client = new_client(s, f"affectd-clear-{s.device.id}-{random.Random().getrandbits(24):06x}")
    try:
        client.connect(s.mqtt.host, s.mqtt.port, keepalive=s.mqtt.keepalive_s)
    except OSError as exc:
        raise ConnectionError(f"mqtt.host: cannot reach {s.mqtt.host}:{s.mqtt.port}: "
                              f"{exc.strerror or exc}") from None
    client.loop_start()
    try:
        for topic in targets:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    DiscoveryRecord(s.device.state_dir).forget(topics.discovery)
    return targets
