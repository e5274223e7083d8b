"""Image preparation shared by the daemon and the quantizer's calibration data."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the square model input (to map boxes back)."""

    scale: float
    pad_x: float
    pad_y: float
    size: int

    def to_frame(self, xy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map normalized model coordinates (..., 2) in [0, 1] to frame pixels."""
        out = np.empty_like(xy)
        out[..., 0] = (xy[..., 0] * self.size - self.pad_x) / self.scale
        out[..., 1] = (xy[..., 1] * self.size - self.pad_y) / self.scale
        return out


def letterbox(bgr: npt.NDArray[np.uint8], size: int) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resize keeping the aspect ratio, pad to size x size (black), convert to RGB."""
    h, w = bgr.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    # Bilinear, as MediaPipe's own image-to-tensor step; INTER_AREA costs 10x more on a
    # 640x480 frame and made the resize the largest cost of the whole face path.
    resized = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    px, py = (size - nw) // 2, (size - nh) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[py:py + nh, px:px + nw] = resized[:, :, ::-1]
    return out, Letterbox(scale, float(px), float(py), size)


def to_unit_range(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 RGB -> float in [-1, 1] (the MediaPipe detectors' input range)."""
    return rgb.astype(np.float32) / 127.5 - 1.0
