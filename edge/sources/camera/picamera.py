"""Camera back-end "picamera2": the Raspberry Pi camera through picamera2 (libcamera)."""

from __future__ import annotations

import time
from typing import Any

from edge.messages import SourceItem
from edge.settings import CameraSettings
from edge.sources.base import SourceError
from edge.sources.camera.capped import CappedSource

Picamera2Settings = CameraSettings
"""It reads only the keys every camera has (width, height, fps)."""


class Picamera2Camera(CappedSource[Picamera2Settings]):
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
