"""Settings: frozen, typed dataclasses, one per config section.

Each field has a docstring (the documentation of `affectd.example.toml`) and,
where it matters, a range or a set of choices in its metadata; `edge.config`
validates a TOML file against these classes. A source section (`[camera]`,
`[microphone]`, `[physio]`) is the base class of its back-ends' own settings
classes, which live beside each back-end (`edge/sources/<kind>/<backend>.py`)
and check themselves (`SourceSettings.check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config problem; the message starts with the offending key. Validation reports
    every problem of a file at once (`several`): one line each, the first key first."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.lines = [f"{key}: {problem}"]
        """Every problem found, one `key: problem` line each."""

    @classmethod
    def several(cls, errors: list[ConfigError]) -> ConfigError:
        """One error carrying all of `errors` (in the order found)."""
        if len(errors) == 1:
            return errors[0]
        lines = [line for e in errors for line in e.lines]
        combined = cls(errors[0].key, lines[0].split(": ", 1)[1])
        combined.lines = lines
        combined.args = ("\n".join(lines),)  # str(): every line, the first key first
        return combined


def _rng(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return {"min": lo, "max": hi}


def _choice(*options: str) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class DeviceSettings:
    id: str = "affectd"
    """Device id used in topics (`<prefix>/<id>/...`): 1-32 chars of a-z, 0-9, '_' or '-'."""
    state_dir: Path = Path("/var/lib/affectd")
    """The only directory affectd writes to (privacy switch, baselines). Never raw data."""


@dataclass(frozen=True)
class MqttSettings:
    host: str = "localhost"
    """Broker host name or address."""
    port: int = field(default=1883, metadata=_rng(1, 65535))
    """Broker TCP port (8883 is usual for TLS)."""
    protocol: str = field(default="3.1.1", metadata=_choice("3.1.1", "5"))
    """MQTT protocol version: "3.1.1" or "5"."""
    client_id: str = ""
    """Client id; empty means `affectd-<device id>`."""
    username: str = ""
    """User name; empty for anonymous."""
    password_env: str = ""
    """Name of an environment variable holding the password."""
    password_file: Path | None = None
    """File whose first line is the password (e.g. a systemd credential)."""
    tls: bool = False
    """Connect with TLS."""
    ca_file: Path | None = None
    """CA bundle that signed the broker's certificate; None uses the system store."""
    cert_file: Path | None = None
    """Client certificate (PEM) for mutual TLS."""
    key_file: Path | None = None
    """Client private key (PEM) for mutual TLS."""
    qos: int = field(default=1, metadata=_rng(0, 2))
    """QoS of state, stats and discovery messages."""
    keepalive_s: int = field(default=30, metadata=_rng(5, 3600))
    """MQTT keepalive interval in seconds."""
    topic_prefix: str = "affectd"
    """Topics are `<topic_prefix>/<device id>/...`."""
    offline_buffer: int = field(default=300, metadata=_rng(0, 100000))
    """Messages kept while the broker is unreachable; the oldest are dropped and counted."""
    reconnect_min_s: float = field(default=1.0, metadata=_rng(0.1, 600))
    """First reconnect delay; doubles up to `reconnect_max_s`."""
    reconnect_max_s: float = field(default=30.0, metadata=_rng(0.1, 3600))
    """Longest reconnect delay."""
    discovery: bool = True
    """Publish Home Assistant MQTT discovery."""
    discovery_prefix: str = "homeassistant"
    """Home Assistant discovery prefix."""
    birth_delay_max_s: float = field(default=5.0, metadata=_rng(0.0, 60.0))
    """Home Assistant's birth message (`<discovery_prefix>/status` `online`) makes the device
    re-send its discovery config after a random delay of up to this many seconds, so that
    a fleet of devices does not answer all at once."""
    bridge_state_topic: str = ""
    """Fleets (docs/fleet.md): the topic where the site broker's bridge publishes its
    connection state (Mosquitto's `notification_topic`, payload 1/0). When set, Home
    Assistant shows the device unavailable while that bridge is down as well."""


@dataclass(frozen=True)
class PublishSettings:
    interval_s: float = field(default=1.0, metadata=_rng(0.05, 3600))
    """Seconds between `state` messages."""
    stats_interval_s: float = field(default=30.0, metadata=_rng(1, 86400))
    """Seconds between `stats` messages."""
    expire_after_s: int = field(default=30, metadata=_rng(1, 86400))
    """Home Assistant marks sensors unavailable after this many seconds without state."""
    profile: str = "full"
    """What is published (docs/mqtt.md): "full" (`state` every interval_s), "mood_light"
    (`mood`: smoothed valence/arousal/emotion at most once a second), "biofeedback"
    (`biofeedback`: stress, HR, RMSSD, breathing pace, once a second as soon as the
    physiology has a new window; `calibrate/set` restarts the wearer's baseline), "kiosk"
    (`audience`: aggregates over at least `kiosk_k` faces, nothing per person)."""
    kiosk_k: int = field(default=3, metadata=_rng(2, 1000))
    """Kiosk: publish an audience window only when at least this many faces contributed."""
    kiosk_window_s: float = field(default=60.0, metadata=_rng(5.0, 86400.0))
    """Kiosk: length of the aggregation window (one `audience` message per window)."""
    kiosk_epsilon: float = field(default=0.0, metadata=_rng(0.0, 100.0))
    """Kiosk: Laplace noise of scale 1/epsilon on every published count (0 = off)."""


@dataclass(frozen=True)
class ModalityFusion:
    weight: float = field(default=1.0, metadata=_rng(0.0, 10.0))
    """Prior weight of the modality."""
    temperature: float = field(default=1.0, metadata=_rng(0.05, 20.0))
    """Temperature that calibrates the modality's emotion distribution (fitted: the default)."""
    pool: float = field(default=1.0, metadata=_rng(0.0, 10.0))
    """Exponent of its calibrated distribution when pooled with another (fitted)."""
    max_age_s: float = field(default=0.0, metadata=_rng(0.0, 3600))
    """Seconds after which this modality's estimate is ignored (0: `[fusion] max_age_s`)."""


@dataclass(frozen=True)
class FusionSettings:
    time_constant_s: float = field(default=2.0, metadata=_rng(0.0, 600))
    """Exponential smoothing time constant of the fused values (0 = none)."""
    max_age_s: float = field(default=10.0, metadata=_rng(0.5, 3600))
    """Estimates older than this are ignored."""
    age_decay_s: float = field(default=4.0, metadata=_rng(0.1, 3600))
    """An estimate's weight decays as exp(-age / age_decay_s)."""
    face: ModalityFusion = ModalityFusion(temperature=0.7937, pool=1.02)
    """[fusion.face]: the face's weight, temperature and pooling exponent (fitted)."""
    voice: ModalityFusion = ModalityFusion(temperature=0.73841, pool=1.14, max_age_s=3.0)
    """[fusion.voice]: the voice's weight, temperature and pooling exponent (fitted); an
    utterance's estimate counts for 3 s after it (the voice is present in the state that
    long; a sound the speech gate mistook for speech shows no voice for long)."""
    physio: ModalityFusion = ModalityFusion()
    """[fusion.physio]: the physiology's weight (it gives no emotion distribution)."""
    hysteresis: float = field(default=0.05, metadata=_rng(0.0, 1.0))
    """The published emotion changes only when another label leads it by this much..."""
    dwell_s: float = field(default=3.0, metadata=_rng(0.0, 3600.0))
    """... and only after the current one has been published for this many seconds
    (a lamp driven by `emotion` changes at most once per dwell period)."""
    combine: str = field(default="fitted", metadata=_choice("fitted", "mean"))
    """How emotion distributions combine: "fitted" pools temperature-calibrated
    log-probabilities with exponents fitted on held-out pairs (models/training/fusion.py);
    "mean" is the quality- and age-weighted mean of the raw distributions."""
    stress_voice: float = field(default=1.15, metadata=_rng(0.0, 100.0))
    """Weight of the stress read from the voice relative to a modality's own stress
    (fitted on held-out pairs with physiology windows)."""

    def modality(self, m: str) -> ModalityFusion:
        """The parameters of modality `m` ("face", "voice" or "physio")."""
        return {"face": self.face, "voice": self.voice, "physio": self.physio}[m]


@dataclass(frozen=True)
class SourceSettings:
    """The keys every source section has; each back-end's class adds its own."""

    enabled: bool = False
    """Read this source and run its modality's analyzer."""
    backend: str = ""
    """Which back-end reads it (the section's table: `edge/sources/<kind>/__init__.py`)."""

    def check(self, section: str) -> None:
        """Cross-field checks beyond types and ranges (raise ConfigError naming the key
        as `<section>.<key>`); the default has none."""


@dataclass(frozen=True)
class PhysioSettings(SourceSettings):
    """[physio]: keys of every wearable back-end (edge/sources/wearable/)."""

    enabled: bool = True
    """Read wearables (or a replay) and run the physiology analyzer."""
    backend: str = "synthetic"
    """Where biosignals come from: "synthetic" (built-in generator), "e4" (Empatica E4 folder
    replay), "neurokit_csv" (CSV with ECG/EDA columns), "ble" (wearables in `devices`),
    "emulated" (the lab's Bumble emulators of the wearables in `devices`). The old name of
    this key, `source`, is still read (deprecated)."""
    calibration_s: float = field(default=60.0, metadata=_rng(5.0, 3600.0))
    """Seconds of signal used for the wearer's resting baseline."""


@dataclass(frozen=True)
class CameraSettings(SourceSettings):
    """[camera]: keys of every camera back-end (edge/sources/camera/)."""

    enabled: bool = False
    """Read a camera (or a video file)."""
    backend: str = "opencv"
    """"picamera2" (Raspberry Pi camera), "opencv" (USB/V4L2 device), "command" (a capture
    program writing raw frames to stdout), "file" (a recording)."""
    width: int = field(default=640, metadata=_rng(16, 8192))
    """Requested capture width."""
    height: int = field(default=480, metadata=_rng(16, 8192))
    """Requested capture height."""
    fps: float = field(default=15.0, metadata=_rng(0.1, 240.0))
    """Frame-rate cap; frames beyond it are dropped, never queued."""


@dataclass(frozen=True)
class FaceSettings:
    detector: str = field(default="short", metadata=_choice("short", "full"))
    """BlazeFace variant: "short" (faces within ~2 m: desks, mirrors) or "full" (rooms)."""
    expression: str = field(default="ensemble", metadata=_choice("single", "ensemble"))
    """Expression model: "ensemble" (four networks, each on the face and its mirror: eight
    passes per face, 0.706 on FER2013 val) or "single" (one of them on the face and its
    mirror: two passes, a quarter of the cost, 0.689: for boxes short of cycles)."""
    tiles: int = field(default=1, metadata=_rng(0, 2))
    """Four overlapping tiles looked at besides the whole frame, for small (distant)
    faces: 0 never; 1 (auto) every `tile_scan_every` frames, and every frame while they
    find faces the whole frame misses; 2 every frame."""
    tile_scan_every: int = field(default=15, metadata=_rng(1, 600))
    """Frames between two looks for small faces when `tiles` is 1."""
    fine_tiles: bool = True
    """With `tiles`, also a grid of smaller tiles (20 squares of 180 px at 640x480) on
    those looks, for faces of about 26-50 px (people 3-5 m from a wide-angle camera);
    in between, only the fine tiles that found such a face run, every frame."""
    min_score: float = field(default=0.6, metadata=_rng(0.1, 0.99))
    """Minimum detection score."""
    min_hits: int = field(default=3, metadata=_rng(1, 30))
    """Frames in a row a face must be seen before it counts (suppresses flickers)."""
    max_missed: int = field(default=8, metadata=_rng(0, 300))
    """Frames a track survives without its face before it is forgotten."""
    max_faces: int = field(default=8, metadata=_rng(1, 64))
    """Largest number of faces analysed per frame (largest first)."""
    smoothing_s: float = field(default=0.6, metadata=_rng(0.0, 60.0))
    """Time constant of the per-face probability smoothing."""
    hysteresis: float = field(default=0.08, metadata=_rng(0.0, 1.0))
    """A new dominant emotion must lead the current one by this much probability..."""
    dwell_s: float = field(default=0.5, metadata=_rng(0.0, 60.0))
    """... for this many seconds before the face's emotion changes."""
    expression_every: int = field(default=2, metadata=_rng(1, 30))
    """Frames between two runs of the expression model on the same face (1: every frame;
    2: 7.5 readings a second at 15 fps). A new face is read on its first frame; in
    between its last reading stands in and is smoothed as usual. Measured on real clips
    (README "Models", the vision path's cost): 2 keeps each face's smoothed label on
    97.5-100 % of frames at 1.3-1.8x the frame rate."""
    action_units: bool = True
    """Run the 468-point face mesh on faces that pass the quality gate: head pose for the
    gate, and action-unit intensities (geometric estimates) published only as scene
    aggregates (`metrics` of the full profile's `state`, the kiosk's `audience`)."""
    mesh_every: int = field(default=3, metadata=_rng(1, 300))
    """Frames between two mesh runs on the same face (1: every frame; 3: 5 readings a
    second at 15 fps). The int8 mesh costs about as much as the rest of the face path, so
    this bounds its cost; the last reading stands in between."""
    mesh_min_quality: float = field(default=0.2, metadata=_rng(0.0, 1.0))
    """The mesh runs only on faces whose detection-based quality reaches this."""
    max_yaw_deg: float = field(default=50.0, metadata=_rng(5.0, 90.0))
    """Head yaw (turned left/right) at which a face's pose quality reaches 0."""
    max_pitch_deg: float = field(default=40.0, metadata=_rng(5.0, 90.0))
    """Head pitch (looking up/down) at which a face's pose quality reaches 0."""


@dataclass(frozen=True)
class MicrophoneSettings(SourceSettings):
    """[microphone]: keys of every microphone back-end (edge/sources/microphone/)."""

    enabled: bool = False
    """Read a microphone (or an audio file)."""
    backend: str = "pyaudio"
    """"pyaudio" (PortAudio device) or "file" (WAV/FLAC replay)."""
    chunk_s: float = field(default=0.1, metadata=_rng(0.01, 2.0))
    """Seconds of audio per message."""


@dataclass(frozen=True)
class VoiceSettings:
    """[voice]: how speech segments become emotion estimates (`edge.voice.analyzer`)."""

    prosody: bool = True
    """Add the prosody head (pitch, loudness, rhythm, voice quality relative to the room's
    recent voices) to the network's output; it carries emotion across languages and
    recordings better than the network alone (`models/cards/speech_prosody.md`)."""
    prior: str = field(default="everyday", metadata=_choice("everyday", "uniform"))
    """"everyday": the output leans to how often emotions are spoken in a room (mostly
    neutral; disgust and fear rare); "uniform": every emotion equally likely, as in an
    acted test set."""


@dataclass(frozen=True)
class RuntimeSettings:
    threads: int = field(default=2, metadata=_rng(1, 64))
    """Inference threads per model."""
    queue_size: int = field(default=4, metadata=_rng(1, 1024))
    """Items buffered between a source and its analyzer; the oldest is dropped when full."""
    stall_timeout_s: float = field(default=10.0, metadata=_rng(0.5, 3600))
    """A stage busy for longer than this counts as stalled: the systemd watchdog is not fed."""
    restart_min_s: float = field(default=0.5, metadata=_rng(0.01, 600))
    """First delay before a failed source or analyzer is restarted (doubles each time)."""
    restart_max_s: float = field(default=30.0, metadata=_rng(0.01, 3600))
    """Longest delay between restarts."""
    log_level: str = field(default="info", metadata=_choice("debug", "info", "warning", "error"))
    """Logging level."""


@dataclass(frozen=True)
class Settings:
    device: DeviceSettings = DeviceSettings()
    """[device]"""
    mqtt: MqttSettings = MqttSettings()
    """[mqtt]"""
    publish: PublishSettings = PublishSettings()
    """[publish]"""
    fusion: FusionSettings = FusionSettings()
    """[fusion]"""
    physio: PhysioSettings = PhysioSettings()
    """[physio]"""
    camera: CameraSettings = CameraSettings()
    """[camera]"""
    face: FaceSettings = FaceSettings()
    """[face]"""
    microphone: MicrophoneSettings = MicrophoneSettings()
    """[microphone]"""
    voice: VoiceSettings = VoiceSettings()
    """[voice]"""
    runtime: RuntimeSettings = RuntimeSettings()
    """[runtime]"""
