"""Calibration and evaluation data for the recipes, read from ../shared at build time.

Every function returns `(inputs, labels)`: a list of float32 arrays shaped like
the model input (batch 1) and, where the task has them, integer labels. Nothing
is written anywhere but the cache; nothing from here enters the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.face.preprocess import letterbox, to_unit_range
from edge.lab.data import data_root, load_fer_split

Batch = tuple[list[npt.NDArray[np.float32]], list[int] | None]

# Calibration and evaluation use different clips so the parity numbers are not
# measured on the frames the quantization ranges were fitted to.
_FACE_CLIPS = {
    "calibration": ["WolfgangLanger_Pexels.mp4", "liveportrait_d3.mp4", "single_face.mp4",
                    "noface_face.mov"],
    "evaluation": ["liveportrait_d0.mp4", "face_noface.mov", "no_face.mp4"],
}


def _video_frames(path: Path, every: int) -> list[Any]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            frames.append(frame)
        i += 1
    cap.release()
    return frames


def face_frames(split: str, samples: int, size: int) -> Batch:
    """Letterboxed RGB frames in [-1, 1] from the real face clips (and stills)."""
    root = data_root()
    frames: list[Any] = []
    for clip in _FACE_CLIPS[split]:
        frames += _video_frames(root / "video" / clip, every=3)
    if split == "evaluation":
        import cv2

        for p in sorted((root / "face" / "samples").glob("*.jpg")):
            img = cv2.imread(str(p))
            if img is not None:
                frames.append(img)
    # A blank frame (a fade to black) has no image statistics; in calibration it stretches
    # every activation range and costs the int8 model its resolution.
    frames = [f for f in frames if float(f.std()) > 2.0]
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(frames))[:samples]
    return [to_unit_range(letterbox(frames[i], size)[0])[None] for i in sorted(idx)], None


def face_mesh_crops(split: str, samples: int, size: int) -> Batch:
    """Face-mesh inputs as the daemon makes them (`edge.face.mesh`): faces the shipped
    short-range detector finds in the real clips (calibration and evaluation use
    different clips; evaluation adds the still photos), and a quarter of FER2013 crops
    (train for calibration, val for evaluation) framed as `affectd eval aus --crops` does."""
    import cv2

    from edge.face.detector import FaceDetector
    from edge.face.mesh import crop_detection, mesh_input, roi_transform
    from edge.registry import Registry

    root = data_root()
    frames: list[Any] = []
    for clip in _FACE_CLIPS[split]:
        frames += _video_frames(root / "video" / clip, every=2)
    if split == "evaluation":
        frames += [img for p in sorted((root / "face" / "samples").glob("*.jpg"))
                   if (img := cv2.imread(str(p))) is not None]
    det = FaceDetector(Registry().load("face_detect_short", 2), "face_detect_short")
    faces = [mesh_input(f, roi_transform(d), size) for f in frames for d in det.detect(f)]
    rng = np.random.default_rng(0)
    n_faces = min(len(faces), samples - samples // 4)
    faces = [faces[i] for i in sorted(rng.permutation(len(faces))[:n_faces])]
    x, _ = load_fer_split("train" if split == "calibration" else "val")
    crop_det = crop_detection(x.shape[2], x.shape[1])
    idx = rng.permutation(len(x))[:samples - n_faces]
    crops = [mesh_input(x[i], roi_transform(crop_det, size), size, replicate=True) for i in idx]
    return faces + crops, None


def fer_crops(split: str, samples: int, size: int) -> Batch:
    """FER2013 crops (centre size x size of the 48x48 faces), grey 0-255, with labels.
    `calibration` draws from train (stratified), `evaluation` is the whole val split."""
    x, y = load_fer_split("train" if split == "calibration" else "val")
    if split == "calibration":
        rng = np.random.default_rng(0)
        per = max(1, samples // 7)
        idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per] for c in range(7)])
    else:
        idx = np.arange(len(x))[:samples] if samples > 0 else np.arange(len(x))
    o = (x.shape[1] - size) // 2
    crops = x[idx, o:o + size, o:o + size].astype(np.float32)
    return [c[None, :, :, None] for c in crops], [int(v) for v in y[idx]]


def synthetic_shapes(split: str, samples: int, size: int) -> Batch:
    """Generated grey images of a disc, a square or a triangle (labels 0, 1, 2): data the
    project makes itself, for testing the quantizer without any dataset."""
    import cv2

    rng = np.random.default_rng(0 if split == "calibration" else 1)
    xs, ys = [], []
    for i in range(samples):
        label = i % 3
        img = np.full((size, size), rng.uniform(0, 80), np.float32)
        c = rng.uniform(0.35, 0.65, 2) * size
        r = rng.uniform(0.15, 0.3) * size
        colour = float(rng.uniform(150, 255))
        if label == 0:
            cv2.circle(img, (int(c[0]), int(c[1])), int(r), colour, -1)
        elif label == 1:
            cv2.rectangle(img, (int(c[0] - r), int(c[1] - r)), (int(c[0] + r), int(c[1] + r)),
                          colour, -1)
        else:
            pts = np.array([[c[0], c[1] - r], [c[0] - r, c[1] + r], [c[0] + r, c[1] + r]],
                           np.int32)
            cv2.fillPoly(img, [pts], colour)
        img += rng.normal(0, 8, img.shape).astype(np.float32)
        xs.append(np.clip(img, 0, 255)[None, :, :, None])
        ys.append(label)
    return xs, ys


def speech_logmel(split: str, samples: int, size: int, speaker_norm: bool = False) -> Batch:
    """Normalised log-mel windows (size frames x 64) of RAVDESS + EmoDB clips with labels:
    `calibration` from training speakers, `evaluation` the held-out test speakers."""
    from edge.voice.features import fit_frames
    from models.training.speech_emotion import (
        add_offsets,
        build_cache,
        online_offsets,
        utterance_means,
    )

    d = build_cache()
    want = "train" if split == "calibration" else "test"
    idx = np.flatnonzero((d["split"] == want) & (d["variant"] == "orig"))
    x = d["x"][idx].astype(np.float32)
    if speaker_norm:  # as the daemon's online normaliser sees each speaker's clips
        x = add_offsets(x, online_offsets(utterance_means(d)[idx], d["speaker"][idx].astype(str)))
    keep = np.arange(len(idx))
    if split == "calibration":
        keep = np.random.default_rng(0).permutation(keep)[:samples]
    xs = [fit_frames(x[i], size)[None, :, :, None] for i in keep]
    return xs, [int(d["y"][idx[i]]) for i in keep]


def speech_logmel_speaker(split: str, samples: int, size: int) -> Batch:
    """`speech_logmel` with online speaker normalisation (`edge.voice.adapt`)."""
    return speech_logmel(split, samples, size, speaker_norm=True)


def speech_logmel_pair(split: str, samples: int, size: int) -> Batch:
    """Both at once, as channels (utterance, speaker): the input of the folded pair
    (`models.training.speech_pair`)."""
    alone, labels = speech_logmel(split, samples, size)
    relative, _ = speech_logmel(split, samples, size, speaker_norm=True)
    return [np.concatenate([a, r], axis=-1) for a, r in zip(alone, relative, strict=True)], labels


DATASETS: dict[str, Callable[[str, int, int], Batch]] = {
    "speech_logmel": speech_logmel,
    "speech_logmel_speaker": speech_logmel_speaker,
    "speech_logmel_pair": speech_logmel_pair,
    "face_frames": face_frames,
    "face_mesh_crops": face_mesh_crops,
    "fer_crops": fer_crops,
    "synthetic_shapes": synthetic_shapes,
}
