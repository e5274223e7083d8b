"""Settings: frozen, typed dataclasses, one per config section.

Each field has a docstring (shown by `affectd check --explain`-style docs in
`affectd.example.toml`) and, where it matters, a range or a set of choices in
its metadata; `edge.config` validates a TOML file against these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


@dataclass(frozen=True)
class PublishSettings:
    interval_s: float = field(default=1.0, metadata=_rng(0.05, 3600))
    """Seconds between `state` messages."""
    stats_interval_s: float = field(default=30.0, metadata=_rng(1, 86400))
    """Seconds between `stats` messages."""
    expire_after_s: int = field(default=30, metadata=_rng(1, 86400))
    """Home Assistant marks sensors unavailable after this many seconds without state."""
    profile: str = field(default="full",
                         metadata=_choice("full", "mood_light", "biofeedback", "kiosk"))
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
class FusionSettings:
    time_constant_s: float = field(default=2.0, metadata=_rng(0.0, 600))
    """Exponential smoothing time constant of the fused values (0 = none)."""
    max_age_s: float = field(default=10.0, metadata=_rng(0.5, 3600))
    """Estimates older than this are ignored."""
    age_decay_s: float = field(default=4.0, metadata=_rng(0.1, 3600))
    """An estimate's weight decays as exp(-age / age_decay_s)."""
    weight_face: float = field(default=1.0, metadata=_rng(0.0, 10.0))
    """Prior weight of the face modality."""
    weight_voice: float = field(default=1.0, metadata=_rng(0.0, 10.0))
    """Prior weight of the voice modality."""
    weight_physio: float = field(default=1.0, metadata=_rng(0.0, 10.0))
    """Prior weight of the physiology modality."""
    hysteresis: float = field(default=0.05, metadata=_rng(0.0, 1.0))
    """The published emotion changes only when another label leads it by this much..."""
    dwell_s: float = field(default=3.0, metadata=_rng(0.0, 3600.0))
    """... and only after the current one has been published for this many seconds
    (a lamp driven by `emotion` changes at most once per dwell period)."""
    combine: str = field(default="fitted", metadata=_choice("fitted", "mean"))
    """How emotion distributions combine: "fitted" pools temperature-calibrated
    log-probabilities with exponents fitted on held-out pairs (models/training/fusion.py);
    "mean" is the quality- and age-weighted mean of the raw distributions."""
    temperature_face: float = field(default=0.7937, metadata=_rng(0.05, 20.0))
    """Temperature that calibrates the face model's distribution (fitted: the default)."""
    temperature_voice: float = field(default=0.68698, metadata=_rng(0.05, 20.0))
    """Temperature that calibrates the voice model's distribution (fitted: the default)."""
    pool_face: float = field(default=0.86, metadata=_rng(0.0, 10.0))
    """Exponent of the calibrated face distribution when pooled with another (fitted)."""
    pool_voice: float = field(default=0.82, metadata=_rng(0.0, 10.0))
    """Exponent of the calibrated voice distribution when pooled with another (fitted)."""
    stress_voice: float = field(default=2.2, metadata=_rng(0.0, 100.0))
    """Weight of the stress read from the voice relative to a modality's own stress
    (fitted on held-out pairs with physiology windows)."""


@dataclass(frozen=True)
class PhysioSettings:
    enabled: bool = True
    """Read wearables (or a replay) and run the physiology analyzer."""
    source: str = field(default="synthetic",
                        metadata=_choice("synthetic", "e4", "neurokit_csv", "ble"))
    """Where biosignals come from: "synthetic" (built-in generator), "e4" (Empatica E4 folder
    replay), "neurokit_csv" (CSV with ECG/EDA columns), "ble" (wearables in `devices`)."""
    devices: tuple[str, ...] = ()
    """BLE wearables as "kind@address", kind one of polar_h10, heart_rate, eda."""
    ble_backend: str = field(default="bluez", metadata=_choice("bluez", "emulated"))
    """"bluez": the system's Bluetooth; "emulated": built-in Bumble emulators of the devices
    listed (for trying affectd without hardware)."""
    stall_s: float = field(default=5.0, metadata=_rng(0.5, 600.0))
    """A wearable connected but silent for this long is reconnected."""
    path: Path | None = None
    """Folder (e4) or file (neurokit_csv) to replay."""
    sample_rate: float = field(default=100.0, metadata=_rng(1.0, 10000.0))
    """Sample rate of a neurokit_csv file in Hz."""
    ecg_rate: float = field(default=130.0, metadata=_rng(50.0, 2000.0))
    """ECG rate of the synthetic source in Hz (130 = Polar H10)."""
    chunk_s: float = field(default=0.5, metadata=_rng(0.05, 10.0))
    """Seconds of signal per message from the source."""
    realtime: bool = True
    """Replay at the recording's pace (False: as fast as possible)."""
    loop: bool = True
    """Start a replay again when it ends."""
    seed: int = 0
    """Random seed of the synthetic source."""
    calibration_s: float = field(default=60.0, metadata=_rng(5.0, 3600.0))
    """Seconds of signal used for the wearer's resting baseline."""


@dataclass(frozen=True)
class CameraSettings:
    enabled: bool = False
    """Read a camera (or a video file)."""
    backend: str = field(default="opencv", metadata=_choice("opencv", "picamera2", "file"))
    """"picamera2" (Raspberry Pi camera), "opencv" (USB/V4L2/Jetson device), "file"."""
    device: str = "0"
    """OpenCV device index or path (e.g. "0", "/dev/video0")."""
    path: Path | None = None
    """Video or image file for backend "file"."""
    width: int = field(default=640, metadata=_rng(16, 8192))
    """Requested capture width."""
    height: int = field(default=480, metadata=_rng(16, 8192))
    """Requested capture height."""
    fps: float = field(default=15.0, metadata=_rng(0.1, 240.0))
    """Frame-rate cap; frames beyond it are dropped, never queued."""
    realtime: bool = True
    """Replay files at their own frame rate (False: as fast as possible)."""
    loop: bool = True
    """Start a file again when it ends."""


@dataclass(frozen=True)
class FaceSettings:
    detector: str = field(default="short", metadata=_choice("short", "full"))
    """BlazeFace variant: "short" (faces within ~2 m: desks, mirrors) or "full" (rooms)."""
    tiles: int = field(default=0, metadata=_rng(0, 2))
    """0: one pass on the whole frame; 2: also four overlapping tiles, for small faces."""
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


@dataclass(frozen=True)
class MicrophoneSettings:
    enabled: bool = False
    """Read a microphone (or an audio file)."""
    backend: str = field(default="pyaudio", metadata=_choice("pyaudio", "file"))
    """"pyaudio" (PortAudio device) or "file" (WAV/FLAC replay)."""
    device: str = ""
    """PyAudio device name substring or index; empty for the default input."""
    path: Path | None = None
    """Audio file for backend "file"."""
    sample_rate: int = field(default=16000, metadata=_rng(8000, 192000))
    """Capture rate; audio is resampled to 16 kHz mono for analysis."""
    chunk_s: float = field(default=0.1, metadata=_rng(0.01, 2.0))
    """Seconds of audio per message."""
    realtime: bool = True
    """Replay files at their own pace (False: as fast as possible)."""
    loop: bool = True
    """Start a file again when it ends."""


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
    runtime: RuntimeSettings = RuntimeSettings()
    """[runtime]"""
