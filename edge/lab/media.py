"""Recorded media for the lab, read through the daemon's own file sources.

Replays, timelines and benchmarks read videos, images, audio and E4 sessions
with `edge/sources` (not realtime, no loop), so what the lab measures is what
the daemon reads; items are stamped with their media time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.messages import SourceItem, VideoFrame
from edge.sources.base import EndOfStream, MediaSource, SourceError
from edge.sources.camera.file import IMAGE_SUFFIXES, FileCameraSettings, VideoFileSource

UNCAPPED_FPS = 240.0
"""The largest frame-rate cap: a replay keeps every frame of a video."""


def media_items(src: MediaSource, limit: float) -> Iterator[SourceItem]:
    """The items of a file source that start before `limit` seconds of media time, each
    stamped with its media time (`item_time_s`) instead of the monotonic clock."""
    try:
        src.open()
    except SourceError as exc:
        raise SystemExit(f"affectd: {exc}") from None
    try:
        while src.position_s < limit:
            items = src.read()
            for item in items:
                yield replace(item, ts=src.item_time_s)
    except EndOfStream:
        return
    except SourceError as exc:
        raise SystemExit(f"affectd: {exc}") from None
    finally:
        src.close()


def video_source(path: Path) -> VideoFileSource:
    """Every frame of a video (or one of a still image), as fast as it decodes."""
    return VideoFileSource(FileCameraSettings(enabled=True, backend="file", path=path,
                                              realtime=False, loop=False, fps=UNCAPPED_FPS))


def frames(path: Path) -> Iterator[tuple[int, float, npt.NDArray[np.uint8]]]:
    """(index, media time, BGR frame) of a video, or one frame for a still image."""
    for i, item in enumerate(media_items(video_source(path), float("inf"))):
        assert isinstance(item, VideoFrame)
        yield i, item.ts, item.image


__all__ = ["IMAGE_SUFFIXES", "frames", "media_items", "video_source"]
