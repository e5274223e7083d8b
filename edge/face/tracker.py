"""Anonymous face tracks: IoU association with constant-velocity prediction.

A track is a box, a velocity, a counter id and hit/miss counts; it never holds
an image or any identity feature, and it is forgotten `max_missed` frames after
its face was last seen. Association is an optimal assignment (Hungarian) on
IoU between detections and predicted boxes. A track is `confirmed` after
`min_hits` detections in a row, which suppresses short false detections, or at
once when its detection scores at least `confirm_score` (a clear face is reported
from its first frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.dsp import assign_max
from edge.face.detector import Detection, iou_matrix


@dataclass
class Track:
    id: int
    box: npt.NDArray[np.float32]
    velocity: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(4, np.float32))
    hits: int = 1
    streak: int = 1
    missed: int = 0
    confirmed: bool = False
    detection: Detection | None = None
    """The detection matched in the current frame (None when missed)."""

    def predicted(self) -> npt.NDArray[np.float32]:
        return self.box + self.velocity


class Tracker:
    def __init__(self, iou_threshold: float = 0.2, max_missed: int = 8, min_hits: int = 3,
                 confirm_score: float = 0.8) -> None:
        self.iou_threshold = iou_threshold
        self.confirm_score = confirm_score
        self.max_missed = max_missed
        self.min_hits = min_hits
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks.clear()

    def update(self, detections: list[Detection]) -> list[Track]:
        """Associate this frame's detections; return the confirmed tracks seen this frame."""
        boxes = np.array([d.box for d in detections], np.float32).reshape(-1, 4)
        matched_t: set[int] = set()
        matched_d: set[int] = set()
        if self.tracks and len(detections):
            pred = np.stack([t.predicted() for t in self.tracks])
            iou = iou_matrix(pred, boxes)
            rows, cols = assign_max(iou)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= self.iou_threshold:
                    self._hit(self.tracks[r], detections[c])
                    matched_t.add(r)
                    matched_d.add(c)
        for i, t in enumerate(self.tracks):
            if i not in matched_t:
                t.missed += 1
                t.streak = 0
                t.detection = None
                t.box = t.predicted()
                t.velocity *= 0.5
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed
                       and (t.confirmed or t.missed == 0)]
        for j, d in enumerate(detections):
            if j not in matched_d:
                t = Track(self._next_id, np.array(d.box, np.float32), detection=d)
                t.confirmed = self.min_hits <= 1 or d.score >= self.confirm_score
                self._next_id += 1
                self.tracks.append(t)
        return [t for t in self.tracks if t.confirmed and t.detection is not None]

    def _hit(self, t: Track, d: Detection) -> None:
        box = np.array(d.box, np.float32)
        t.velocity = 0.5 * t.velocity + 0.5 * (box - t.box)
        t.box = box
        t.hits += 1
        t.streak += 1
        t.missed = 0
        t.detection = d
        if t.streak >= self.min_hits or d.score >= self.confirm_score:
            t.confirmed = True
