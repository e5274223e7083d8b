"""The frame-rate cap shared by every camera back-end.

All honour the cap by dropping frames (never queueing them): a live camera is
read as fast as it delivers and frames arriving before the next slot are
discarded; a file is replayed at its own rate (or as fast as possible) with the
same cap.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from edge.messages import SourceItem, VideoFrame
from edge.settings import CameraSettings
from edge.sources.base import Source

C = TypeVar("C", bound=CameraSettings)


class CappedSource(Source[C]):
    """A camera or video source that drops frames beyond the frame-rate cap."""

    modality = "face"

    def __init__(self, settings: C) -> None:
        super().__init__(settings)
        self._min_gap = 1.0 / settings.fps
        self._next_due = -1e9
        self._index = 0
        self.capped = 0
        """Frames dropped by the frame-rate cap."""

    def _emit(self, image: Any, ts: float, cap_t: float | None = None) -> list[SourceItem]:
        """Emit a frame unless it comes sooner than the cap allows (`cap_t`: its media time)."""
        t = ts if cap_t is None else cap_t
        if t < self._next_due - 1e-6:
            self.capped += 1
            return []
        # keep the average rate at the cap (a 24 fps input capped at 15 gives 15, not 12)
        late = t - self._next_due
        self._next_due = (self._next_due if 0 <= late < self._min_gap else t) + self._min_gap
        self._index += 1
        return [VideoFrame(ts, self._index, np.ascontiguousarray(image, dtype=np.uint8))]
