"""`affectd replay` and `affectd eval face`: the vision path on files."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.face.analyzer import FaceAnalyzer, FaceResult
from edge.lab.media import IMAGE_SUFFIXES, frames
from edge.messages import EMOTIONS
from edge.settings import FaceSettings

LABEL_ALIASES = {
    "anger": "angry", "angry": "angry", "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "happy": "happy", "happiness": "happy", "joy": "happy",
    "neutral": "neutral", "sad": "sad", "sadness": "sad", "surprise": "surprise",
    "surprised": "surprise",
}


def _face_json(f: FaceResult) -> dict[str, Any]:
    return {"track": f.track, "box": [round(v, 1) for v in f.box], "emotion": f.emotion,
            "probs": {k: round(p, 4) for k, p in zip(EMOTIONS, f.probs, strict=True)},
            "valence": round(f.valence, 3), "arousal": round(f.arousal, 3),
            "quality": round(f.quality, 3),
            "pose": None if f.pose is None else {"yaw": round(f.pose.yaw, 1),
                                                 "pitch": round(f.pose.pitch, 1),
                                                 "roll": round(f.pose.roll, 1)},
            "aus": None if f.aus is None else {k: round(v, 3) for k, v in f.aus.items()}}


def draw(img: npt.NDArray[np.uint8], faces: list[FaceResult]) -> npt.NDArray[np.uint8]:
    out = img.copy()
    for f in faces:
        x0, y0, x1, y1 = (int(v) for v in f.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 220, 0), 2)
        cv2.putText(out, f"#{f.track} {f.emotion} q{f.quality:.2f}", (x0, max(12, y0 - 6)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 220, 0), 1, cv2.LINE_AA)
        for k, (name, val) in enumerate((("V", f.valence), ("A", f.arousal))):
            y = y1 + 14 + 14 * k
            cx = (x0 + x1) // 2
            cv2.putText(out, name, (x0, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            cv2.line(out, (cx, y), (cx + int(val * (x1 - x0) / 2), y),
                     (0, 200, 255) if val >= 0 else (255, 80, 80), 6)
    return out


def replay(path: Path, as_json: bool, render: Path | None, settings: FaceSettings,
           threads: int = 2) -> dict[str, Any]:
    still = path.suffix.lower() in IMAGE_SUFFIXES
    if still:  # one frame: there is no second frame to confirm a face with
        settings = replace(settings, min_hits=1)
    analyzer = FaceAnalyzer(settings, threads=threads)
    writer = None
    n = with_face = max_faces = 0
    track_ids: set[int] = set()
    for i, t, img in frames(path):
        faces = analyzer.analyze(img, t)
        n += 1
        with_face += bool(faces)
        max_faces = max(max_faces, len(faces))
        track_ids.update(f.track for f in faces)
        if as_json:
            print(json.dumps({"frame": i, "t": round(t, 3), "faces": [_face_json(f)
                                                                      for f in faces]}))
        if render is not None:
            if writer is None:
                h, w = img.shape[:2]
                writer = cv2.VideoWriter(str(render), cv2.VideoWriter.fourcc(*"mp4v"), 25.0,
                                         (w, h))
            writer.write(draw(img, faces))
    if writer is not None:
        writer.release()
    summary = {"frames": n, "frames_with_face": with_face, "tracks": len(track_ids),
               "max_faces": max_faces}
    if as_json:
        print(json.dumps(summary))
    else:
        print(f"{path}: {n} frames, face in {with_face}, {len(track_ids)} track(s), "
              f"at most {max_faces} face(s) at once", file=sys.stdout)
    return summary
