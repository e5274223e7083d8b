"""Camera back-ends, chosen by `[camera] backend` from one table.

A new back-end is one file here (its settings class, a subclass of
`CameraSettings` with its own keys and `check`, and its source) plus one row.
"""

from __future__ import annotations

from edge.sources.base import Backend, BackendTable
from edge.sources.camera.command import CommandCamera, CommandCameraSettings
from edge.sources.camera.file import FileCameraSettings, VideoFileSource
from edge.sources.camera.opencv import OpenCvCamera, OpenCvCameraSettings
from edge.sources.camera.picamera import Picamera2Camera, Picamera2Settings

CAMERAS = BackendTable("camera", "affectd.cameras", [
    Backend("opencv", OpenCvCameraSettings, OpenCvCamera),
    Backend("picamera2", Picamera2Settings, Picamera2Camera),
    Backend("command", CommandCameraSettings, CommandCamera),
    Backend("file", FileCameraSettings, VideoFileSource, stands_in="a recording"),
])

__all__ = ["CAMERAS"]
