"""Camera back-end "opencv": a V4L2/USB (or Jetson GStreamer) device through OpenCV."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from edge.messages import SourceItem
from edge.settings import CameraSettings
from edge.sources.base import SourceError
from edge.sources.camera.capped import CappedSource


@dataclass(frozen=True)
class OpenCvCameraSettings(CameraSettings):
    device: str = "0"
    """OpenCV device index or path (e.g. "0", "/dev/video0")."""


class OpenCvCamera(CappedSource[OpenCvCameraSettings]):
    """A V4L2/USB (or Jetson GStreamer) device through OpenCV."""

    name = "camera:opencv"

    def __init__(self, settings: OpenCvCameraSettings) -> None:
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
