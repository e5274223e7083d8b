"""Expression recognition on aligned crops, temporal smoothing with hysteresis,
onset/offset events, and the scene aggregate across tracks."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.circumplex import valence_arousal
from edge.inference import TFLiteModel
from edge.messages import EMOTIONS


class ExpressionModel:
    """The int8 expression network: 48x48 aligned grey crop -> 7 probabilities."""

    def __init__(self, model: TFLiteModel) -> None:
        self.model = model
        self.size = model.inputs[0].shape[1]
        self._table = model.pixel_table(lambda p: p)  # the network takes grey levels 0-255

    def predict(self, crop48: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        o = (crop48.shape[0] - self.size) // 2
        crop = crop48[o:o + self.size, o:o + self.size]
        x = (self._table[crop] if self._table is not None else crop.astype(np.float32))
        x = x[None, :, :, None]
        logits = self.model.run(x)[0].reshape(-1).astype(np.float64)
        e = np.exp(logits - logits.max())
        return (e / e.sum()).astype(np.float32)


@dataclass(frozen=True)
class EmotionEvent:
    """A sustained change of a track's dominant emotion."""

    track: int
    ts: float
    previous: str | None
    current: str


@dataclass
class SmoothedTrack:
    """One track's expression state: exponential smoothing of its probabilities (time
    constant `tau_s`), a dominant label that changes only when another label leads by
    `margin` for `dwell_s`, and the model's last reading of the face."""

    tau_s: float = 0.6
    margin: float = 0.08
    dwell_s: float = 0.5
    probs: npt.NDArray[np.float64] | None = None
    label: str | None = None
    _challenger: str | None = None
    _since: float = 0.0
    _last_t: float | None = None
    quality: float = 0.0
    reading: npt.NDArray[np.float32] | None = None
    """The expression model's last reading of this face; it stands in between readings."""
    reading_age: int = 0
    """Frames since `reading` was taken."""

    def reading_due(self, every: int) -> bool:
        """Whether the model reads this face again on this frame (it has a reading):
        every `every` frames (`face.expression_every`); counts the frame either way."""
        self.reading_age += 1
        if self.reading_age >= every:
            self.reading_age = 0
            return True
        return False

    def update(self, probs: npt.NDArray[np.float32], quality: float, t: float) -> str | None:
        """Fold in a new prediction; return the new label when it changed (an event)."""
        p = np.asarray(probs, np.float64)
        if self.probs is None or self._last_t is None:
            self.probs = p
        else:
            dt = max(0.0, t - self._last_t)
            # low-quality faces move the estimate less
            alpha = (1.0 - math.exp(-dt / self.tau_s)) * max(0.2, quality)
            self.probs = self.probs + alpha * (p - self.probs)
        self._last_t = t
        self.quality = quality
        top = EMOTIONS[int(np.argmax(self.probs))]
        if self.label is None:
            self.label = top
            return top
        if top == self.label:
            self._challenger = None
            return None
        lead = self.probs[EMOTIONS.index(top)] - self.probs[EMOTIONS.index(self.label)]
        if lead < self.margin:
            self._challenger = None
            return None
        if self._challenger != top:
            self._challenger, self._since = top, t
            return None
        if t - self._since >= self.dwell_s:
            self.label, self._challenger = top, None
            return top
        return None


@dataclass
class Scene:
    """Aggregate over the faces in view: count, quality-weighted mean distribution,
    valence and arousal."""

    faces: int
    probs: tuple[float, ...] | None
    valence: float | None
    arousal: float | None
    quality: float


def aggregate(tracks: list[SmoothedTrack]) -> Scene:
    live = [t for t in tracks if t.probs is not None]
    if not live:
        return Scene(0, None, None, None, 0.0)
    w = np.array([max(1e-3, t.quality) for t in live])
    mean = np.sum([wi * t.probs for wi, t in zip(w, live, strict=True)], axis=0) / w.sum()
    v, a = valence_arousal(mean.tolist())
    return Scene(len(live), tuple(float(x) for x in mean), v, a, float(np.max(w)))


@dataclass
class EventLog:
    events: deque[EmotionEvent] = field(default_factory=lambda: deque(maxlen=256))
