"""Camera sources: picamera2 (Raspberry Pi), OpenCV devices (USB/V4L2/Jetson), files.

All three honour the frame-rate cap by dropping frames (never queueing them):
a live camera is read as fast as it delivers and frames arriving before the
next slot are discarded; a file is replayed at its own rate (or as fast as
possible) with the same cap. A still image is a one-frame video.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.messages import SourceItem, VideoFrame
from edge.settings import CameraSettings
from edge.sources.base import EndOfStream, Pacer, Source, SourceError

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class _CappedSource(Source):
    modality = "face"

    def __init__(self, settings: CameraSettings) -> None:
        super().__init__()
        self.settings = settings
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


class OpenCvCamera(_CappedSource):
    """A V4L2/USB (or Jetson GStreamer) device through OpenCV."""

    name = "camera:opencv"

    def __init__(self, settings: CameraSettings) -> None:
        super().__init__(settings)
        self._cap: Any = None

    def open(self) -> None:
        import cv2

        dev: int | str = int(self.settings.device) if self.settings.device.isdigit() \
            else self.settings.device
        cap = cv2.VideoCapture(dev)
        if not cap.isOpened():
            raise SourceError(f"{self.name}: cannot open device {self.settings.device!r}")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.settings.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.settings.height)
        self._cap = cap

    def read(self) -> list[SourceItem]:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: device {self.settings.device!r} stopped delivering")
        return self._emit(image, time.monotonic())

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class Picamera2Camera(_CappedSource):
    """The Raspberry Pi camera through picamera2 (libcamera); Pi only."""

    name = "camera:picamera2"

    def __init__(self, settings: CameraSettings) -> None:
        super().__init__(settings)
        self._cam: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(f"{self.name}: picamera2 is not installed ({exc})") from None
        try:
            cam = Picamera2()
            size = (self.settings.width, self.settings.height)
            cam.configure(cam.create_video_configuration(main={"size": size, "format": "BGR888"}))
            cam.start()
        except Exception as exc:  # libcamera raises a variety of errors
            raise SourceError(f"{self.name}: cannot start camera ({exc})") from None
        self._cam = cam

    def read(self) -> list[SourceItem]:
        try:
            image = self._cam.capture_array("main")
        except Exception as exc:
            raise SourceError(f"{self.name}: capture failed ({exc})") from None
        return self._emit(image[:, :, :3], time.monotonic())

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


class VideoFileSource(_CappedSource):
    """A video file (or a still image) replayed in media time."""

    name = "camera:file"

    def __init__(self, settings: CameraSettings) -> None:
        super().__init__(settings)
        self._cap: Any = None
        self._still: Any = None
        self._file_fps = settings.fps
        self._media_index = 0
        self._pacer = Pacer(settings.realtime, self.stop_event)

    @property
    def path(self) -> Path:
        assert self.settings.path is not None
        return self.settings.path

    def open(self) -> None:
        import cv2

        self._media_index = 0
        self._next_due = -1e9
        self._pacer.restart()
        if self.path.suffix.lower() in _IMAGE_SUFFIXES:
            image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(f"{self.name}: cannot decode image {self.path}")
            self._still = image
            return
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"{self.name}: cannot open video {self.path}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._file_fps = fps if fps and 1.0 <= fps <= 240.0 else self.settings.fps
        self._cap = cap

    def _rewind(self) -> None:
        if not self.settings.loop:
            raise EndOfStream
        self.close()
        self.open()

    def read(self) -> list[SourceItem]:
        if self._still is not None:  # a still image repeats at the frame rate (loop) or ends
            if self._media_index > 0 and not self.settings.loop:
                raise EndOfStream
            self._media_index += 1
            media_t = (self._media_index - 1) * self._min_gap
            return self._emit(self._still, self._pacer.wait(media_t), media_t)
        ok, image = self._cap.read()
        if not ok or image is None:
            if self._media_index == 0:
                raise SourceError(f"{self.name}: no decodable frame in {self.path}")
            self._rewind()
            return []
        media_t = self._media_index / self._file_fps
        self._media_index += 1
        # The cap applies to media time so fast replays keep the same frame selection.
        return self._emit(image, self._pacer.wait(media_t), media_t)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap = None
        self._still = None


def open_camera(settings: CameraSettings) -> Source:
    if settings.backend == "picamera2":
        return Picamera2Camera(settings)
    if settings.backend == "file":
        return VideoFileSource(settings)
    return OpenCvCamera(settings)
