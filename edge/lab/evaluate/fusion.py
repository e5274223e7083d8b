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

`voice_in_noise`: the same test pairs with each speech clip mixed with a piece of
../shared's non-speech audio (music, household, environment in turn) at 0 dB, as a
voice over a loud TV: the voice alone, and fused with the voice estimate's quality
(a) fixed at 1 and (b) as the daemon sets it, scaled by the speech gate's confidence
(`edge.voice.speechness`; a clip the gate rejects gives no voice estimate). Where (b)
beats (a), fusion leans on the face when the voice is unreliable.
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
from edge.settings import FaceSettings, FusionSettings, VoiceSettings

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
    noisy_voice: npt.NDArray[np.float64] | None = None
    """Per clip (test speakers; NaN rows elsewhere): the prediction on the clip mixed
    with non-speech at 0 dB."""
    noisy_confidence: npt.NDArray[np.float64] | None = None
    """The speech gate's confidence on that mixture (0: rejected)."""

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
        for i in self.clips_of(speakers):
            label = int(self.voice_y[i])
            if not pools[label]:
                pools[label] = list(rng.permutation(face_idx[fy == label]))
            f.append(self.face[pools[label].pop()])
            v.append(self.voice[i])
            y.append(label)
        return np.array(f), np.array(v), np.array(y)

    def clips_of(self, speakers: set[str]) -> npt.NDArray[np.int64]:
        """Indices of the speech clips of `speakers`, in the order `pairs` uses them."""
        return np.flatnonzero(np.isin(self.speaker, sorted(speakers)))


def predictions(data: Path) -> Predictions:
    from edge.face.analyzer import EXPRESSION_IDS
    from edge.face.expression import ExpressionModel
    from edge.lab.corpora import scan
    from edge.lab.data import load_fer_split
    from edge.lab.evaluate.speech import load_clip, speaker_sessions
    from edge.voice.analyzer import MODEL_ID, SpeechEmotionModel

    net = Registry().load(MODEL_ID, 1)
    voice, voice_y, speaker = [], [], []
    for corpus in ("ravdess", "emodb"):
        clips, _ = scan(data / "speech" / corpus)
        wanted = [c for c in clips
                  if c.speaker in SPEECH_TEST | SPEECH_CALIBRATION and c.label is not None]
        for session in speaker_sessions(wanted):  # as `affectd eval speech` plays them
            speech = SpeechEmotionModel.from_registry(Registry(), VoiceSettings(), model=net)
            for c in session:
                voice.append(speech.predict(load_clip(c.path)))
                voice_y.append(EMOTIONS.index(str(c.label)))
                speaker.append(c.speaker)
    noisy, confidence = _noisy_voice(data, net, speaker)
    expression = ExpressionModel(Registry().load(EXPRESSION_IDS[FaceSettings().expression], 1))
    x, y = load_fer_split("val")
    face = np.stack([expression.predict(img) for img in x])
    return Predictions(np.array(voice, np.float64), np.array(voice_y), np.array(speaker),
                       face.astype(np.float64), np.asarray(y, np.int64), noisy, confidence)


def _noisy_voice(data: Path, net: Any, speaker: list[str]
                 ) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """Predictions and gate confidences on the test speakers' clips mixed at 0 dB with
    ../shared's non-speech (None without it); replayed in the order of `predictions`."""
    from edge.lab.bench.vad import files_under, read_16k
    from edge.lab.corpora import scan
    from edge.lab.evaluate.speech import load_clip, speaker_sessions
    from edge.voice.analyzer import SpeechEmotionModel
    from edge.voice.features import log_mel_of_power, power_spectrogram
    from edge.voice.speechness import SpeechGate

    noise = [read_16k(p) for c in ("music", "household", "environment")
             for p in files_under(data / "nonspeech" / c)]
    if not noise:
        return None, None
    gate = SpeechGate.from_registry()
    probs = np.full((len(speaker), len(EMOTIONS)), np.nan)
    conf = np.zeros(len(speaker))
    k = 0
    for corpus in ("ravdess", "emodb"):
        clips, _ = scan(data / "speech" / corpus)
        wanted = [c for c in clips
                  if c.speaker in SPEECH_TEST | SPEECH_CALIBRATION and c.label is not None]
        for session in speaker_sessions(wanted):
            model = SpeechEmotionModel.from_registry(Registry(), VoiceSettings(), model=net)
            for c in session:
                if c.speaker in SPEECH_TEST:
                    x = load_clip(c.path)
                    n = np.resize(noise[k % len(noise)], x.size)
                    gain = np.sqrt(np.mean(x ** 2) / max(float(np.mean(n ** 2)), 1e-12))
                    mixed = (x + gain * n).astype(np.float32)
                    power = power_spectrogram(mixed)
                    raw = log_mel_of_power(power)
                    probs[k] = model.predict(mixed, raw, power)
                    conf[k] = gate.confidence(gate.probability(raw, power))
                k += 1
    return probs, conf


def fused_labels(face: npt.NDArray[np.float64], voice: npt.NDArray[np.float64],
                 settings: FusionSettings, modalities: tuple[str, ...] = ("face", "voice"),
                 voice_quality: npt.NDArray[np.float64] | None = None,
                 ) -> npt.NDArray[np.int64]:
    """The label the daemon's fusion emits for each pair; `voice_quality` per pair
    (default 1; 0: no voice estimate)."""
    out = []
    s = replace(settings, time_constant_s=0.0)
    quality = np.ones(len(face)) if voice_quality is None else voice_quality
    for fp, vp, q in zip(face, voice, quality, strict=True):
        fusion = LateFusion(s, modalities)
        if "face" in modalities:
            fusion.update(ModalityEstimate("face", 0.0, 1.0, probs=tuple(map(float, fp))))
        if "voice" in modalities and q > 0:
            fusion.update(ModalityEstimate("voice", 0.0, float(q),
                                           probs=tuple(map(float, vp))))
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
    in_noise = _voice_in_noise(p, test_faces, settings, seeds)
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
        "voice_in_noise": in_noise,
    }


def _voice_in_noise(p: Predictions, test_faces: npt.NDArray[np.int64],
                    settings: FusionSettings, seeds: int) -> dict[str, Any] | None:
    """The test pairs again with the voice over 0-dB non-speech (module docstring)."""
    if p.noisy_voice is None or p.noisy_confidence is None:
        return None
    clips = p.clips_of(SPEECH_TEST)
    noisy, conf = p.noisy_voice[clips], p.noisy_confidence[clips]
    rows = []
    for seed in range(seeds):
        face, _, y = p.pairs(SPEECH_TEST, test_faces, seed)
        rows.append({
            "voice": float(np.mean(np.argmax(noisy, axis=1) == y)),
            "face": float(np.mean(np.argmax(face, axis=1) == y)),
            "fused_quality_fixed": float(np.mean(fused_labels(face, noisy, settings) == y)),
            "fused_quality_from_gate": float(np.mean(
                fused_labels(face, noisy, settings, voice_quality=conf) == y))})
    out: dict[str, Any] = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
    out["voice_rejected"] = round(float(np.mean(conf == 0)), 4)
    out["mean_voice_quality"] = round(float(np.mean(conf)), 4)
    return out


def fusion_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out: list[str] = []
    out.append(f"n={r['n']} pairs ({r['pairs']}), mean over {r['seeds']} pairings")
    out.append(f"fused ({r['combine']}) {r['fused_accuracy']:.4f}; weighted mean "
          f"{r['fused_accuracy_weighted_mean']:.4f}; face alone {r['single']['face']:.4f}; "
          f"voice alone {r['single']['voice']:.4f}")
    n = r.get("voice_in_noise")
    if n:
        out.append(f"voice over 0-dB non-speech: voice alone {n['voice']:.4f}; fused with its "
                   f"quality fixed {n['fused_quality_fixed']:.4f}, from the speech gate "
                   f"{n['fused_quality_from_gate']:.4f} (face alone {n['face']:.4f}; "
                   f"{100 * n['voice_rejected']:.0f} % of voices rejected)")
    return out
