"""Kiosk audience aggregation: what a room full of faces felt, never who felt it.

`AudienceWindow` receives the face estimates (with the tracked faces behind
them, which never leave this process) and, once per window, returns one
aggregate over the *tracks* (people) seen in it:

- `faces`: how many distinct tracks contributed (at least `min_frames` frames);
- `emotions`: per emotion, how many tracks had it as their dominant label
  (each track's mean distribution over the window decides);
- `valence_mean`, `arousal_mean`: means over tracks (each person counts once,
  however long they stayed);
- `dwell_s_mean`, `dwell_s_median`: how long tracks stayed in view within the window;
- `aus_mean`, `smiling_share`: each action unit's mean intensity over tracks (each
  track's mean over its frames first) and the share of tracks whose mean AU12 reads
  smiling, only when at least `k` tracks had action units read.

Nothing is returned when fewer than `k` tracks contributed (k-anonymity: an
aggregate over one or two people describes them). With `epsilon` > 0, Laplace
noise of scale 1/epsilon (sensitivity 1: one person changes each count by at most
one) is added to every count, which are then rounded and clipped at zero; the
k test uses the true count. Per-track state is dropped when a window closes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.messages import EMOTIONS, ModalityEstimate

SMILING = 0.5
"""A track whose mean AU12 (lip-corner puller) reads at least this counts as smiling
(as `edge.face.analyzer.SMILING`; profiles do not import the face home)."""


@dataclass
class _Track:
    first: float
    last: float
    frames: int = 0
    probs: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS)))
    valence: float = 0.0
    arousal: float = 0.0
    aus: dict[str, float] = field(default_factory=dict)
    au_frames: int = 0


class AudienceWindow:
    def __init__(self, k: int = 3, window_s: float = 60.0, epsilon: float = 0.0,
                 min_frames: int = 3, rng: np.random.Generator | None = None) -> None:
        self.k = k
        self.window_s = window_s
        self.epsilon = epsilon
        self.min_frames = min_frames
        self._rng = rng or np.random.default_rng()
        self._lock = threading.Lock()
        self._tracks: dict[int, _Track] = {}
        self.windows_suppressed = 0

    def observe(self, est: ModalityEstimate) -> None:
        if est.modality != "face" or not est.faces:
            return
        with self._lock:
            for f in est.faces:
                tr = self._tracks.setdefault(f.track, _Track(est.ts, est.ts))
                tr.last = est.ts
                tr.frames += 1
                tr.probs += np.asarray(f.probs, dtype=np.float64)
                tr.valence += f.valence
                tr.arousal += f.arousal
                if f.aus:
                    tr.au_frames += 1
                    for au, v in f.aus.items():
                        tr.aus[au] = tr.aus.get(au, 0.0) + v

    def clear(self) -> None:
        with self._lock:
            self._tracks.clear()

    def _count(self, n: int) -> int:
        if self.epsilon <= 0:
            return n
        return max(0, round(n + float(self._rng.laplace(0.0, 1.0 / self.epsilon))))

    def close(self, wall: float) -> dict[str, Any] | None:
        """End the window: the aggregate payload, or None below k faces."""
        with self._lock:
            tracks = [t for t in self._tracks.values() if t.frames >= self.min_frames]
            self._tracks.clear()
        if len(tracks) < self.k:
            self.windows_suppressed += 1
            return None
        dominant = [int(np.argmax(t.probs)) for t in tracks]
        dwell = [t.last - t.first for t in tracks]
        payload = {
            "schema": 1, "ts": round(wall, 3), "window_s": self.window_s,
            "faces": self._count(len(tracks)),
            "emotions": {e: self._count(dominant.count(i)) for i, e in enumerate(EMOTIONS)},
            "valence_mean": round(float(np.mean([t.valence / t.frames for t in tracks])), 4),
            "arousal_mean": round(float(np.mean([t.arousal / t.frames for t in tracks])), 4),
            "dwell_s_mean": round(float(np.mean(dwell)), 1),
            "dwell_s_median": round(float(np.median(dwell)), 1),
            "noise_epsilon": self.epsilon if self.epsilon > 0 else None,
        }
        read = [{au: v / t.au_frames for au, v in t.aus.items()} for t in tracks if t.au_frames]
        if len(read) >= self.k:  # the k floor holds for the action units on their own
            payload["aus_mean"] = {au: round(float(np.mean([r[au] for r in read])), 3)
                                   for au in read[0]}
            payload["smiling_share"] = round(float(np.mean(
                [r.get("AU12", 0.0) >= SMILING for r in read])), 3)
        return payload
