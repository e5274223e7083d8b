"""`affectd eval distance [--json]`: how small a face the detectors still find.

The group photo of ../shared (`face/samples/multi_face.jpg`, five people, faces about
100 px wide in a 1000-px photo) is scaled down into a grey 640x480 frame, as the same
people would appear further from a camera, and each detector counts the faces it finds
(those whose box overlaps one of the five faces, found on the full-size photo, by at
least 0.3 IoU; anything else is counted apart as a false detection):

- `ours_default`: the daemon's default (short-range int8 with the tiled look that the
  first frame of a scene gets, `face.tiles = 1`);
- `ours_whole_frame`: the same model without tiles (`face.tiles = 0`);
- `full_range_int8` and `full_range_float`: BlazeFace full range, the shipped int8 file
  and the float source model in ../shared (when present);
- `yunet`: OpenCV's YuNet (`FaceDetectorYN`, its 320x320 ONNX model in ../shared, Apache-2.0),
  a maintained detector, at the same score threshold as ours (0.6).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SCALES = (0.64, 0.48, 0.4, 0.32, 0.24, 0.2)
"""Photo scale factors: face widths of about 64, 48, 40, 32, 24 and 20 px in the frame."""
FRAME = (480, 640)
Boxes = npt.NDArray[np.float32]


def _iou(a: Boxes, b: Boxes) -> npt.NDArray[np.float32]:
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return np.asarray(inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9))


def place(img: npt.NDArray[np.uint8], scale: float) -> tuple[npt.NDArray[np.uint8],
                                                                tuple[float, float]]:
    """`img` scaled by `scale` in the middle of a grey 640x480 frame, and its offset."""
    import cv2

    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    frame = np.full((*FRAME, 3), 127, np.uint8)
    y0, x0 = (FRAME[0] - h) // 2, (FRAME[1] - w) // 2
    frame[y0:y0 + h, x0:x0 + w] = small
    return frame, (float(x0), float(y0))


def _detectors(data: Path) -> dict[str, Callable[[npt.NDArray[np.uint8]], Boxes]]:
    import cv2

    from edge.face.detector import FaceDetector
    from edge.inference import TFLiteModel
    from edge.registry import Registry

    reg = Registry()
    short = FaceDetector(reg.load("face_detect_short", 1), "face_detect_short", 0.6)
    full = FaceDetector(reg.load("face_detect_full", 1), "face_detect_full", 0.6)

    def boxes(dets: list[Any]) -> Boxes:
        return np.array([d.box for d in dets], np.float32).reshape(-1, 4)

    out: dict[str, Callable[[npt.NDArray[np.uint8]], Boxes]] = {
        "ours_default": lambda f: boxes(short.with_tiles(f, short.detect(f))),
        "ours_whole_frame": lambda f: boxes(short.detect(f)),
        "full_range_int8": lambda f: boxes(full.detect(f)),
    }
    src = data.parent / "models" / "source"
    if (src / "face_detection_full_range_sparse.tflite").exists():
        full_float = FaceDetector(TFLiteModel(src / "face_detection_full_range_sparse.tflite",
                                              1), "face_detect_full", 0.6)
        out["full_range_float"] = lambda f: boxes(full_float.detect(f))
    if (src / "yunet_n_320_320.onnx").exists():
        # the fixed-size model (OpenCV's importer refuses the dynamic one): the frame is
        # letterboxed to a square and scaled to 320x320, boxes mapped back
        yunet = cv2.FaceDetectorYN.create(str(src / "yunet_n_320_320.onnx"), "", (320, 320),
                                          0.6)

        def run_yunet(f: npt.NDArray[np.uint8]) -> Boxes:
            side = max(f.shape[:2])
            square = np.zeros((side, side, 3), np.uint8)
            square[:f.shape[0], :f.shape[1]] = f
            _, faces = yunet.detect(cv2.resize(square, (320, 320), interpolation=cv2.INTER_AREA))
            if faces is None:
                return np.zeros((0, 4), np.float32)
            b = faces[:, :4].astype(np.float32) * (side / 320.0)
            return np.column_stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]])

        out["yunet"] = run_yunet
    return out


def evaluate_distance(data: Path) -> dict[str, Any]:
    import cv2

    photo = data / "face" / "samples" / "multi_face.jpg"
    img: npt.NDArray[np.uint8] | None = cv2.imread(str(photo))  # type: ignore[assignment]
    if img is None:
        raise FileNotFoundError(f"{photo}: no such image")
    dets = _detectors(data)
    truth = dets["ours_default"](img)  # the five faces at full size
    if len(truth) != 5:
        raise ValueError(f"{photo}: expected the five faces at full size, found {len(truth)}")
    out: dict[str, Any] = {"faces": 5, "scales": {}}
    for scale in SCALES:
        frame, (x0, y0) = place(img, scale)
        ref = truth * scale + np.array([x0, y0, x0, y0], np.float32)
        row: dict[str, Any] = {"face_px": round(float(np.mean(ref[:, 2] - ref[:, 0])), 1)}
        for name, detect in dets.items():
            found = detect(frame)
            hit = _iou(ref, found).max(axis=1) >= 0.3 if len(found) else np.zeros(5, bool)
            extra = int((_iou(found, ref).max(axis=1) < 0.3).sum()) if len(found) else 0
            row[name] = {"found": int(hit.sum()), "false": extra}
        out["scales"][str(scale)] = row
    return out


def distance_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    names = [k for k in next(iter(r["scales"].values())) if k != "face_px"]
    out = ["faces found of 5 (false detections) by face width in a 640x480 frame:",
           "  face px  " + "  ".join(f"{n:>16}" for n in names)]
    for row in r["scales"].values():
        out.append(f"  {row['face_px']:7.1f}  " + "  ".join(
            f"{row[n]['found']:>12} ({row[n]['false']})" for n in names))
    return out
