"""The 468-point face mesh (MediaPipe's face landmark model, int8): a detection ->
a rotated square crop around the face -> 468 (x, y, z) landmarks in frame pixels.

The crop follows MediaPipe's own face-detection-to-ROI step: the detection box,
rotated so the eyes lie level, enlarged 1.5x into a square, resampled to the
model's 192 x 192 RGB input in [0, 1]. Landmarks come back in crop pixels and are
mapped to the frame with the inverse of that affine transform; z is in the same
pixel scale as x (relative depth, negative towards the camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.face.detector import Detection
from edge.inference import TFLiteModel

MESH_ID = "face_mesh"
SIZE = 192
ROI_SCALE = 1.5
"""The detection box is enlarged this much (MediaPipe's face landmark ROI)."""
PRESENCE_MIN = 0.5
"""A mesh whose face-presence probability is below this is discarded."""


@dataclass(frozen=True)
class Mesh:
    """468 landmarks of one face in frame pixels, and the model's face presence."""

    points: npt.NDArray[np.float32]
    """(468, 3): x, y in frame pixels; z relative depth in the same scale."""
    presence: float


def roi_transform(det: Detection, size: int = SIZE, scale: float = ROI_SCALE
                  ) -> npt.NDArray[np.float64]:
    """2x3 affine matrix from frame pixels to the square, eye-levelled crop."""
    right_eye, left_eye = det.keypoints[0].astype(np.float64), det.keypoints[1].astype(np.float64)
    v = left_eye - right_eye
    angle = float(np.degrees(np.arctan2(v[1], v[0])))
    x0, y0, x1, y1 = det.box
    centre = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    side = max(x1 - x0, y1 - y0) * scale
    m = cv2.getRotationMatrix2D(centre, angle, size / max(side, 1.0))
    m[0, 2] += size / 2.0 - centre[0]
    m[1, 2] += size / 2.0 - centre[1]
    return np.asarray(m, np.float64)


def mesh_input(bgr: npt.NDArray[np.uint8], m: npt.NDArray[np.float64], size: int = SIZE,
               replicate: bool = False) -> npt.NDArray[np.float32]:
    """The model input (1, size, size, 3): RGB in [0, 1] of the crop `m` maps to. Outside
    the image: black (a frame, as MediaPipe pads), or the edge repeated (`replicate`: a
    face crop that is all the image there is)."""
    img = bgr if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    crop = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT)
    return (crop[None, :, :, ::-1].astype(np.float32) / 255.0)


def to_frame(points: npt.NDArray[np.float32], m: npt.NDArray[np.float64]
             ) -> npt.NDArray[np.float32]:
    """Crop-pixel landmarks (N, 3) -> frame pixels, z rescaled like x and y."""
    a = m[:, :2]
    inv = cv2.invertAffineTransform(m)
    out = np.empty_like(points)
    out[:, :2] = points[:, :2] @ inv[:, :2].T + inv[:, 2]
    out[:, 2] = points[:, 2] / float(np.sqrt(abs(np.linalg.det(a))))
    return out


def crop_detection(width: int, height: int) -> Detection:
    """A detection covering a whole face crop framed like FER2013's (eyes at 36 % of the
    height, 42 % of the width apart): for crops that are the face and nothing else."""
    from edge.face.align import EYE_DIST, EYE_Y

    eyes = np.array([[(0.5 - EYE_DIST / 2) * width, EYE_Y * height],
                     [(0.5 + EYE_DIST / 2) * width, EYE_Y * height]], np.float32)
    kp = np.concatenate([eyes, np.zeros((4, 2), np.float32)])
    return Detection((0.0, 0.0, float(width), float(height)), 1.0, kp)


class FaceMesh:
    """Runs the face landmark model on detected faces."""

    def __init__(self, model: TFLiteModel) -> None:
        self.model = model
        self._landmarks_out, self._presence_out = (
            (0, 1) if model.outputs[0].shape[-1] > 1 else (1, 0))

    def run(self, bgr: npt.NDArray[np.uint8], det: Detection, replicate: bool = False
            ) -> Mesh | None:
        """The mesh of the face `det` found, or None when the model sees no face there."""
        m = roi_transform(det)
        out = self.model.run(mesh_input(bgr, m, replicate=replicate))
        presence = float(1.0 / (1.0 + np.exp(-float(out[self._presence_out].ravel()[0]))))
        if presence < PRESENCE_MIN:
            return None
        pts = out[self._landmarks_out].reshape(-1, 3).astype(np.float32)
        return Mesh(to_frame(pts, m), presence)
