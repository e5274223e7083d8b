"""Typed messages passed between pipeline stages.

Raw signals (frames, audio, biosignals) only ever travel inside the process in
these objects; what leaves the process is built from `ModalityEstimate` and
`FusedState` alone, and is checked by the allow-list schema at the publisher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
"""The 7 emotion labels shared by every modality, in this order."""

Modality = Literal["face", "voice", "physio"]
MODALITIES: tuple[Modality, ...] = ("face", "voice", "physio")

BioKind = Literal["ecg", "eda", "hr", "rr", "temp"]


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One camera frame (BGR uint8, HxWx3)."""

    ts: float
    """Monotonic capture time, seconds."""
    index: int
    """Frame number since the source opened."""
    image: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A block of mono audio, float32 in [-1, 1], at `sample_rate`."""

    ts: float
    """Monotonic time of the last sample, seconds."""
    samples: npt.NDArray[np.float32]
    sample_rate: int


@dataclass(frozen=True, slots=True)
class BioSamples:
    """A chunk of one biosignal channel from a wearable or a replay.

    ecg: microvolts at `fs`; eda: microsiemens at `fs`; hr: beats per minute
    (one value per notification, fs = 0); rr: RR intervals in seconds (fs = 0);
    temp: skin temperature in °C at `fs`.
    """

    ts: float
    """Monotonic time of the last sample, seconds."""
    kind: BioKind
    fs: float
    values: npt.NDArray[np.float64]
    device: str = "replay"


SourceItem = VideoFrame | AudioChunk | BioSamples


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """One tracked face in one frame, inside the process only (kiosk aggregation);
    no payload schema admits it."""

    track: int
    probs: tuple[float, ...]
    valence: float
    arousal: float
    aus: dict[str, float] | None = None
    """Action-unit intensities in [0, 1] by name ("AU12"), when the mesh read the face."""


@dataclass(frozen=True, slots=True)
class ModalityEstimate:
    """What one analyzer concluded about one moment; the only thing fusion sees."""

    modality: Modality
    ts: float
    """Monotonic time of the last input sample the estimate is based on."""
    quality: float
    """Reliability in [0, 1] (signal quality, detection confidence)."""
    probs: tuple[float, ...] | None = None
    """Probabilities over `EMOTIONS`, or None when the modality cannot tell."""
    valence: float | None = None
    arousal: float | None = None
    stress: float | None = None
    count: int | None = None
    """Number of faces (face modality) or beats (physio) behind the estimate."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Aggregated, non-identifying measurements (e.g. hr_bpm, rmssd_ms, scl_us)."""
    faces: tuple[FaceObservation, ...] = ()
    """Face modality: the faces behind the estimate (for kiosk aggregates; never published)."""


@dataclass(frozen=True, slots=True)
class ModalityStatus:
    """Per-modality part of the published state."""

    present: bool
    quality: float
    age_s: float | None
    faces: int | None = None


@dataclass(frozen=True, slots=True)
class FusedState:
    """The fused, smoothed estimate published on `.../state`."""

    ts: float
    """Wall-clock time (unix seconds)."""
    paused: bool
    valence: float | None
    arousal: float | None
    stress: float | None
    emotion: str | None
    probs: dict[str, float] | None
    confidence: float
    modalities: dict[str, ModalityStatus]
    metrics: dict[str, float] = field(default_factory=dict)
