"""Camera back-end "file": a video file (or a still image, a one-frame video) replayed
in media time, at its own rate or as fast as possible (`realtime = false`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.messages import SourceItem
from edge.settings import CameraSettings
from edge.sources.base import EndOfStream, FileKeys, Pacer, SourceError
from edge.sources.camera.capped import CappedSource

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class FileCameraSettings(FileKeys, CameraSettings):
    """[camera] keys of backend "file": `path`, `realtime`, `loop`."""


class VideoFileSource(CappedSource[FileCameraSettings]):
    """A video file (or a still image) replayed in media time."""

    name = "camera:file"

    def __init__(self, settings: FileCameraSettings) -> None:
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
        if self.path.suffix.lower() in IMAGE_SUFFIXES:
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

    @property
    def position_s(self) -> float:
        """Media time of the next frame."""
        return self._media_index / self._file_fps if self._still is None \
            else self._media_index * self._min_gap

    @property
    def item_time_s(self) -> float:
        """Media time of the last frame read."""
        return max(0, self._media_index - 1) / self._file_fps if self._still is None \
            else max(0, self._media_index - 1) * self._min_gap

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap = None
        self._still = None
