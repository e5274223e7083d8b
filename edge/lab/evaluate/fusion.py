"""`affectd eval fusion`: fused vs single-modality accuracy on pseudo-multimodal pairs.

No public dataset records faces, voices and physiology of the same people, so
the evaluation builds pairs: a speech clip is paired with a FER2013 `val` face
crop of the same label, drawn without replacement with a fixed seed. Two
disjoint pair sets exist:

- *calibration* pairs: the speech model's validation speakers (RAVDESS 17-18,
  EmoDB 09-10) with one half of FER `val`; `models/training/fusion.py` fits the
  per-modality temperatures and the pooling exponents on them;
- *test* pairs: the held-out speakers (RAVDESS 19-20, EmoDB 03 and 08, never
  seen in training or fitting) with the other half of FER `val`; this command
  scores them.

Both int8 models score their half; the daemon's own `LateFusion` combines the
two estimates (equal quality, fresh). Stress, which physiology and voice both
carry, has its own pairs (edge/lab/evaluate/fusion_stress.py) under the `stress` key.
Reported: fused accuracy (the fitted rule, and the weighted-mean fallback for
reference), each modality alone on the same pairs, and fused accuracy with each
modality removed (which, with two modalities, is the other one alone).
Physiology carries stress and arousal, not emotion categories, so it takes part
in the stress pairs only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.fusion import LateFusion
from edge.messages import EMOTIONS, ModalityEstimate
from edge.registry import Registry
from edge.settings import FusionSettings

SPEECH_CALIBRATION = {"ravdess-17", "ravdess-18", "emodb-09", "emodb-10"}
SPEECH_TEST = {"ravdess-19", "ravdess-20", "emodb-03", "emodb-08"}


@dataclass
class Predictions:
    """Int8 model outputs: speech per clip (with speaker), face per FER `val` crop."""

    voice: npt.NDArray[np.float64]
    voice_y: npt.NDArray[np.int64]
    speaker: npt.NDArray[np.str_]
    face: npt.NDArray[np.float64]
    face_y: npt.NDArray[np.int64]

    def face_halves(self, seed: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(calibration, test) indices into `face`: a fixed random half each."""
        order = np.random.default_rng(seed).permutation(self.face_y.size)
        return np.sort(order[: order.size // 2]), np.sort(order[order.size // 2:])

    def pairs(self, speakers: set[str], face_idx: npt.NDArray[np.int64],
              seed: int = 0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                                      npt.NDArray[np.int64]]:
        """(face probs, voice probs, labels): each clip of `speakers` with a face crop
        of the same label from `face_idx`, without replacement until a label runs out."""
        rng = np.random.default_rng(seed)
        fy = self.face_y[face_idx]
        pools = {c: list(rng.permutation(face_idx[fy == c])) for c in range(len(EMOTIONS))}
        f, v, y = [], [], []
        for i in np.flatnonzero(np.isin(self.speaker, sorted(speakers))):
            label = int(self.voice_y[i])
            if not pools[label]:
                pools[label] = list(rng.permutation(face_idx[fy == label]))
            f.append(self.face[pools[label].pop()])
            v.append(self.voice[i])
            y.append(label)
        return np.array(f), np.array(v), np.array(y)


def predictions(data: Path) -> Predictions:
    from edge.face.analyzer import EXPRESSION_ID
    from edge.face.expression import ExpressionModel
    from edge.lab.corpora import scan
    from edge.lab.data import load_fer_split
    from edge.lab.evaluate.speech import load_clip, speaker_sessions
    from edge.voice.analyzer import MODEL_ID, SpeechEmotionModel

    net = Registry().load(MODEL_ID, 1)
    norm = bool(Registry().get(MODEL_ID).preprocessing.get("speaker_normalisation", False))
    voice, voice_y, speaker = [], [], []
    for corpus in ("ravdess", "emodb"):
        clips, _ = scan(data / "speech" / corpus)
        wanted = [c for c in clips
                  if c.speaker in SPEECH_TEST | SPEECH_CALIBRATION and c.label is not None]
        for session in speaker_sessions(wanted):  # as `affectd eval speech` plays them
            speech = SpeechEmotionModel(net, norm)
            for c in session:
                voice.append(speech.predict(load_clip(c.path)))
                voice_y.append(EMOTIONS.index(str(c.label)))
                speaker.append(c.speaker)
    expression = ExpressionModel(Registry().load(EXPRESSION_ID, 1))
    x, y = load_fer_split("val")
    face = np.stack([expression.predict(img) for img in x])
    return Predictions(np.array(voice, np.float64), np.array(voice_y), np.array(speaker),
                       face.astype(np.float64), np.asarray(y, np.int64))


def fused_labels(face: npt.NDArray[np.float64], voice: npt.NDArray[np.float64],
                 settings: FusionSettings, modalities: tuple[str, ...] = ("face", "voice"),
                 ) -> npt.NDArray[np.int64]:
    """The label the daemon's fusion emits for each pair."""
    out = []
    s = replace(settings, time_constant_s=0.0)
    for fp, vp in zip(face, voice, strict=True):
        fusion = LateFusion(s, modalities)
        if "face" in modalities:
            fusion.update(ModalityEstimate("face", 0.0, 1.0, probs=tuple(map(float, fp))))
        if "voice" in modalities:
            fusion.update(ModalityEstimate("voice", 0.0, 1.0, probs=tuple(map(float, vp))))
        state = fusion.fuse(now=0.0, wall=0.0)
        out.append(EMOTIONS.index(state.emotion) if state.emotion else -1)
    return np.array(out)


def evaluate_fusion(data: Path, seeds: int = 5, settings: FusionSettings | None = None,
                    preds: Predictions | None = None) -> dict[str, Any]:
    """Accuracies on the test pairs, each the mean over `seeds` random pairings (the
    face halves stay fixed, so no test crop was used in fitting)."""
    settings = settings or FusionSettings()
    p = preds or predictions(data)
    _, test_faces = p.face_halves(0)
    rows: list[dict[str, float]] = []
    n = 0
    for seed in range(seeds):
        face, voice, y = p.pairs(SPEECH_TEST, test_faces, seed)
        n = int(y.size)

        def acc(pred: npt.NDArray[np.int64], y: npt.NDArray[np.int64] = y) -> float:
            return float(np.mean(pred == y)) if y.size else 0.0

        rows.append({
            "fused": acc(fused_labels(face, voice, settings)),
            "mean": acc(fused_labels(face, voice, replace(settings, combine="mean"))),
            "face": acc(np.argmax(face, axis=1)), "voice": acc(np.argmax(voice, axis=1)),
            "without_face": acc(fused_labels(face, voice, settings, ("voice",))),
            "without_voice": acc(fused_labels(face, voice, settings, ("face",))),
        })
    avg = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
    stress: dict[str, Any] | None = None
    physio_root = data / "physio" / "stress_predict"
    if (physio_root / "labels_per_second.csv").exists():
        from edge.lab.evaluate.fusion_stress import evaluate_stress_pairs, physio_windows

        test = np.isin(p.speaker, sorted(SPEECH_TEST))
        stress = evaluate_stress_pairs(p.voice[test], p.voice_y[test],
                                       physio_windows(physio_root),
                                       replace(settings, time_constant_s=0.0), seeds)
    return {
        "stress": stress,
        "fused_accuracy": avg["fused"],
        "fused_accuracy_weighted_mean": avg["mean"],
        "single": {"face": avg["face"], "voice": avg["voice"]},
        "without": {"face": avg["without_face"], "voice": avg["without_voice"]},
        "n": n, "seeds": seeds,
        "pairs": "held-out speech clips (RAVDESS 19-20, EmoDB 03/08) x the test half of "
                 "FER2013 val crops of the same label",
        "combine": settings.combine,
    }


def fusion_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out: list[str] = []
    out.append(f"n={r['n']} pairs ({r['pairs']}), mean over {r['seeds']} pairings")
    out.append(f"fused ({r['combine']}) {r['fused_accuracy']:.4f}; weighted mean "
          f"{r['fused_accuracy_weighted_mean']:.4f}; face alone {r['single']['face']:.4f}; "
          f"voice alone {r['single']['voice']:.4f}")
    return out
