"""`affectd eval fusion`: fused vs single-modality accuracy on pseudo-multimodal pairs.

No public dataset records faces, voices and physiology of the same people, so
the evaluation builds pairs: every held-out speech clip (RAVDESS actors 19-20,
EmoDB speakers 03 and 08, none seen in training) is paired with a FER2013 `val`
face crop of the same label, drawn without replacement with a fixed seed. Both
int8 models score their half; the daemon's own `LateFusion` combines the two
estimates (equal quality, fresh). Reported: fused accuracy, each modality
alone on the same pairs, and fused accuracy with each modality removed (which,
with two modalities, is the other one alone). Physiology carries stress, not
emotion categories, so it has no place in a categorical pairing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.fusion import LateFusion
from edge.messages import EMOTIONS, ModalityEstimate
from edge.registry import Registry
from edge.settings import FusionSettings

SPEECH_TEST = {"ravdess-19", "ravdess-20", "emodb-03", "emodb-08"}


def _speech_predictions(data: Path) -> tuple[list[np.ndarray], list[int]]:
    from edge.speech.analyzer import MODEL_ID, SpeechEmotionModel
    from edge.speech.corpora import scan
    from edge.speech.tools import load_clip

    model = SpeechEmotionModel(Registry().load(MODEL_ID, 1))
    probs, labels = [], []
    for corpus in ("ravdess", "emodb"):
        clips, _ = scan(data / "speech" / corpus)
        for c in clips:
            if c.speaker in SPEECH_TEST and c.label is not None:
                probs.append(model.predict(load_clip(c.path)))
                labels.append(EMOTIONS.index(c.label))
    return probs, labels


def _face_predictions() -> tuple[np.ndarray, np.ndarray]:
    from edge.vision.analyzer import EXPRESSION_ID
    from edge.vision.expression import ExpressionModel
    from models.training.data import load_fer_split

    model = ExpressionModel(Registry().load(EXPRESSION_ID, 1))
    x, y = load_fer_split("val")
    return np.stack([model.predict(img) for img in x]), y


def evaluate_fusion(data: Path, seed: int = 0) -> dict[str, Any]:
    sp, sy = _speech_predictions(data)
    fp, fy = _face_predictions()
    rng = np.random.default_rng(seed)
    pools = {c: list(rng.permutation(np.flatnonzero(fy == c))) for c in range(len(EMOTIONS))}
    pairs = []
    for p, label in zip(sp, sy, strict=True):
        if not pools[label]:
            pools[label] = list(rng.permutation(np.flatnonzero(fy == label)))
        pairs.append((fp[pools[label].pop()], p, label))
    correct = {"fused": 0, "face": 0, "voice": 0}
    for face, voice, label in pairs:
        fusion = LateFusion(FusionSettings(time_constant_s=0.0), ("face", "voice"))
        fusion.update(ModalityEstimate("face", 0.0, 1.0, probs=tuple(map(float, face))))
        fusion.update(ModalityEstimate("voice", 0.0, 1.0, probs=tuple(map(float, voice))))
        state = fusion.fuse(now=0.0, wall=0.0)
        correct["fused"] += state.emotion == EMOTIONS[label]
        correct["face"] += int(np.argmax(face)) == label
        correct["voice"] += int(np.argmax(voice)) == label
    n = len(pairs)
    acc = {k: round(v / max(1, n), 4) for k, v in correct.items()}
    return {"fused_accuracy": acc["fused"], "single": {"face": acc["face"],
                                                        "voice": acc["voice"]},
            "without": {"face": acc["voice"], "voice": acc["face"]}, "n": n,
            "pairs": "held-out speech clips x FER2013 val crops of the same label",
            "seed": seed}


def print_fusion(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    print(f"n={r['n']} pairs ({r['pairs']})")
    print(f"fused {r['fused_accuracy']:.4f}; face alone {r['single']['face']:.4f}; "
          f"voice alone {r['single']['voice']:.4f}")
