"""Head pose (yaw, pitch, roll in degrees) from face-mesh landmarks.

`cv2.solvePnP` fits a generic anthropometric face — six points: nose tip, chin,
the outer eye corners and the mouth corners, in millimetres, in camera-like axes
(x to the image's right, y down, z away from the camera) so that a frontal face
gives the identity rotation — to the mesh's 2D points, with a pinhole camera of
focal length equal to the frame width (webcams and Pi cameras are 55-75 degrees
wide; the angles depend little on it). Positive yaw: the face turns to the image's
right; positive pitch: it looks down; positive roll: it tilts clockwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

MESH_POINTS = (1, 152, 33, 263, 61, 291)
"""Mesh indices: nose tip, chin, outer corner of the subject's right and left eye,
right and left mouth corner."""
MODEL_MM = np.array([
    (0.0, 0.0, 0.0),          # nose tip
    (0.0, 63.6, 12.5),        # chin
    (-43.3, -32.7, 26.0),     # subject's right eye, outer corner (image left)
    (43.3, -32.7, 26.0),      # subject's left eye, outer corner
    (-28.9, 28.9, 24.1),      # right mouth corner
    (28.9, 28.9, 24.1),       # left mouth corner
], np.float64)


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float

    def frontal(self, max_yaw: float, max_pitch: float) -> float:
        """1 for a frontal face, falling linearly to 0 at the limits."""
        y = 1.0 - abs(self.yaw) / max_yaw
        p = 1.0 - abs(self.pitch) / max_pitch
        return float(np.clip(min(y, p), 0.0, 1.0))


def head_pose(points: npt.NDArray[np.float32], frame_w: int, frame_h: int) -> HeadPose | None:
    """The pose of a face from its (468, 2+) mesh in frame pixels; None if the fit fails."""
    img = np.ascontiguousarray(points[list(MESH_POINTS), :2], np.float64)
    f = float(frame_w)
    cam = np.array([[f, 0.0, frame_w / 2.0], [0.0, f, frame_h / 2.0], [0.0, 0.0, 1.0]])
    # Start from a frontal face at the distance its eye span implies: from a cold start
    # the 6-point fit sometimes lands on the mirrored solution (roll near 180 degrees).
    eye_px = float(np.hypot(*(img[3] - img[2]))) or 1.0
    z = f * float(MODEL_MM[3, 0] - MODEL_MM[2, 0]) / eye_px
    tvec0 = np.array([[(img[0, 0] - frame_w / 2.0) * z / f], [(img[0, 1] - frame_h / 2.0) * z / f],
                      [z]])
    ok, rvec, _tvec = cv2.solvePnP(MODEL_MM, img, cam, None, rvec=np.zeros((3, 1)),
                                   tvec=tvec0, useExtrinsicGuess=True,
                                   flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    rot, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) Ry(yaw) Rx(pitch) with the camera-like model axes above.
    yaw = float(np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0))))
    pitch = float(np.degrees(np.arctan2(rot[2, 1], rot[2, 2])))
    roll = float(np.degrees(np.arctan2(rot[1, 0], rot[0, 0])))
    # Seen from the camera, a face turning to the image's right rotates about -y.
    return HeadPose(-yaw, -pitch, roll)
