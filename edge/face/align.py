"""Face alignment and quality gating.

`align_face` maps the two eye keypoints onto fixed positions of a square grey
crop with a similarity transform (rotation, uniform scale, translation), so the
expression model sees faces framed like its training crops. `face_quality`
scores a face in [0, 1] from detection score, size, sharpness (variance of the
Laplacian) and head yaw estimated from the nose's offset between the eyes; a
poor face lowers the estimate's quality instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.face.detector import Detection

CROP = 48
EYE_Y = 0.36
"""Canonical eye height as a fraction of the crop (FER2013 framing)."""
EYE_DIST = 0.42
"""Canonical distance between the eyes as a fraction of the crop width."""


def align_face(bgr: npt.NDArray[np.uint8], det: Detection, size: int = CROP
               ) -> npt.NDArray[np.uint8]:
    """Grey `size` x `size` crop with the eyes at canonical positions."""
    right_eye, left_eye = det.keypoints[0], det.keypoints[1]  # subject's right is image left
    src_vec = left_eye - right_eye
    dist = float(np.hypot(*src_vec)) or 1.0
    angle = float(np.degrees(np.arctan2(src_vec[1], src_vec[0])))
    scale = EYE_DIST * size / dist
    centre = (right_eye + left_eye) / 2.0
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    m[0, 2] += size * 0.5 - centre[0]
    m[1, 2] += size * EYE_Y - centre[1]
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    return np.asarray(cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE), np.uint8)


@dataclass(frozen=True)
class Quality:
    score: float
    size: float
    sharpness: float
    pose: float

    @property
    def overall(self) -> float:
        return float(self.score * np.sqrt(self.size * self.sharpness) * self.pose)


def yaw_ratio(det: Detection) -> float:
    """Nose offset from the eye midpoint along the eye line, over the eye distance
    (0 frontal, about +-0.5 at a strong profile)."""
    r, left, nose = det.keypoints[0], det.keypoints[1], det.keypoints[2]
    axis = left - r
    d = float(np.hypot(*axis)) or 1.0
    return float(np.dot(nose - (r + left) / 2.0, axis / d) / d)


def face_quality(det: Detection, crop: npt.NDArray[np.uint8]) -> Quality:
    score = float(np.clip((det.score - 0.5) / 0.4, 0.0, 1.0))
    size = float(np.clip((det.width - 20.0) / 60.0, 0.0, 1.0))
    lap = float(cv2.Laplacian(crop, cv2.CV_32F).var())
    sharp = float(np.clip(lap / 150.0, 0.0, 1.0))
    pose = float(np.clip(1.0 - abs(yaw_ratio(det)) / 0.5, 0.0, 1.0))
    return Quality(score, size, sharp, pose)
