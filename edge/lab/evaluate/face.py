"""`affectd eval face --images DIR [--crops]`: accuracy of the face path on labelled images.

DIR holds `<label>/*.{jpg,png}`; folder names map onto the 7 labels (`anger` ->
`angry`, `sadness` -> `sad`, ...); unknown folders are reported and skipped.
With `--crops` the images are already face crops (resized to 48x48 grey);
otherwise the largest detected face is aligned, and an image without a face
counts as a miss (a wrong answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.face.align import align_face
from edge.face.analyzer import DETECTOR_IDS, EXPRESSION_IDS
from edge.face.detector import FaceDetector
from edge.face.expression import ExpressionModel
from edge.lab.media import IMAGE_SUFFIXES
from edge.lab.replay import LABEL_ALIASES
from edge.messages import EMOTIONS
from edge.registry import Registry
from edge.settings import FaceSettings


def evaluate_face(images: Path, crops: bool, settings: FaceSettings,
                  threads: int = 2) -> dict[str, Any]:
    reg = Registry()
    expr_id = EXPRESSION_IDS[settings.expression]
    model = ExpressionModel(reg.load(expr_id, threads))
    det_id = DETECTOR_IDS[settings.detector]
    detector = None if crops else FaceDetector(reg.load(det_id, threads), det_id,
                                               settings.min_score)
    k = len(EMOTIONS)
    conf = np.zeros((k, k), int)
    files, skipped_dirs = labelled_images(images)
    missed = unreadable = 0
    for label, path in files:
        t = EMOTIONS.index(label)
        img = read_bgr(path)
        if img is None:
            unreadable += 1
            continue
        if crops:
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            crop = np.asarray(cv2.resize(grey, (48, 48), interpolation=cv2.INTER_AREA),
                              np.uint8)
        else:
            assert detector is not None
            dets = detector.detect(img, settings.tiles)
            if not dets:
                missed += 1
                conf_row_miss(conf, t)
                continue
            crop = align_face(img, max(dets, key=lambda d: d.width))
        conf[t][int(np.argmax(model.predict(crop)))] += 1
    n = int(conf.sum())
    recall = conf.diagonal() / np.maximum(1, conf.sum(1))
    present = conf.sum(1) > 0
    return {
        "accuracy": round(float(conf.diagonal().sum() / max(1, n)), 4), "n": n,
        "uar": round(float(recall[present].mean()) if present.any() else 0.0, 4),
        "per_class": {lab: {"recall": round(float(r), 4), "n": int(c)}
                      for lab, r, c in zip(EMOTIONS, recall, conf.sum(1), strict=True)},
        "confusion": conf.tolist(), "labels": list(EMOTIONS),
        "model": reg.get(expr_id).ref, "detector": None if crops else det_id,
        "no_face": missed, "unreadable": unreadable, "skipped_folders": skipped_dirs,
    }


def read_bgr(path: Path) -> npt.NDArray[np.uint8] | None:
    """The image as BGR uint8, or None when it cannot be read (counted by the caller)."""
    raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if raw is None else np.asarray(raw, np.uint8)


def labelled_images(images: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(label, image path) under `<label>/` folders of `images`, and the folders whose
    names map onto no label (reported and skipped)."""
    found, skipped = [], []
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        label = LABEL_ALIASES.get(folder.name.lower())
        if label is None:
            skipped.append(folder.name)
            continue
        found += [(label, p) for p in sorted(folder.iterdir())
                  if p.suffix.lower() in IMAGE_SUFFIXES]
    return found, skipped


def conf_row_miss(conf: np.ndarray, t: int) -> None:
    """Count a missed face as an error: add it to the true class's row off the diagonal."""
    conf[t, (t + 1) % conf.shape[0]] += 1


def face_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out: list[str] = []
    out.append(f"model {r['model']}: accuracy {r['accuracy']:.4f}, UAR {r['uar']:.4f}, n={r['n']}")
    for lab, v in r["per_class"].items():
        out.append(f"  {lab:9} recall {v['recall']:.3f} (n={v['n']})")
    if r["skipped_folders"]:
        out.append(f"  skipped folders (unknown labels): {', '.join(r['skipped_folders'])}")
    return out
