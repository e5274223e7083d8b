"""Fit the late-fusion rule: per-modality temperatures and pooling exponents.

    python -m models.training.fusion            # writes models/reports/fusion_fit.json

On the *calibration* pairs of `edge.lab.evaluate.fusion` (the speech model's validation
speakers x one half of FER2013 `val`; never the test speakers or the other half):

1. temperature scaling per modality: T minimising the negative log-likelihood of
   softmax(log p / T) over that modality's calibration predictions;
2. pooling exponents (a, b) minimising the NLL of softmax(a log q_face + b log q_voice)
   over the calibration pairs, q the calibrated distributions;
3. the voice's stress weight, minimising the log-loss of the fused stress over the
   calibration speakers paired with the even-numbered Stress-Predict participants'
   physiology windows (edge/lab/evaluate/fusion_stress.py).

Both by grid search (one and two parameters; no optimiser needed). The fitted
values are the defaults of `FusionSettings` (temperature_*, pool_*); a test checks
that they agree with this report. `affectd eval fusion` then scores the test pairs.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.lab.data import data_root
from edge.lab.evaluate.fusion import SPEECH_CALIBRATION, Predictions, evaluate_fusion, predictions
from edge.settings import FusionSettings, ModalityFusion

REPORT = Path(__file__).resolve().parents[1] / "reports" / "fusion_fit.json"
F64 = npt.NDArray[np.float64]


def _nll(logits: F64, y: npt.NDArray[np.int64]) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(y.size), y].mean())


def fit_temperature(probs: F64, y: npt.NDArray[np.int64]) -> float:
    logp = np.log(np.clip(probs, 1e-6, None))
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 241))
    return float(grid[int(np.argmin([_nll(logp / t, y) for t in grid]))])


def fit_pool(qf: F64, qv: F64, y: npt.NDArray[np.int64]) -> tuple[float, float]:
    lf, lv = np.log(np.clip(qf, 1e-6, None)), np.log(np.clip(qv, 1e-6, None))
    grid = np.round(np.arange(0.0, 2.0001, 0.02), 2)
    best = min(((a, b) for a in grid for b in grid if a + b > 0),
               key=lambda ab: _nll(ab[0] * lf + ab[1] * lv, y))
    return float(best[0]), float(best[1])


def calibrate(p: F64, t: float) -> F64:
    z = np.log(np.clip(p, 1e-6, None)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_stress_voice(preds: Predictions, windows: tuple[F64, npt.NDArray[np.int64],
                                                        npt.NDArray[np.int64]]) -> float:
    """The voice's stress weight (physiology's own is 1) minimising the log-loss of the
    fused stress on calibration pairs: calibration speakers x even participants."""
    from edge.fusion import voice_stress
    from edge.lab.evaluate.fusion_stress import calibration_subject, stress_pairs

    phys, phys_y, who = windows
    cal = np.array([calibration_subject(int(p)) for p in who])
    voice_cal = np.isin(preds.speaker, sorted(SPEECH_CALIBRATION))
    ps, vs, ys = [], [], []
    for seed in range(5):
        pairs, y = stress_pairs(preds.voice[voice_cal], preds.voice_y[voice_cal], phys[cal],
                                phys_y[cal], seed)
        for pair in pairs:
            v = pair["voice"]
            assert v.arousal is not None and pair["physio"].stress is not None
            ps.append(pair["physio"].stress)
            vs.append(voice_stress(v.arousal, v.valence))
        ys += y.tolist()
    p_, v_, y_ = np.array(ps), np.array(vs), np.array(ys)
    grid = np.round(np.arange(0.0, 20.0001, 0.05), 2)

    def logloss(w: float) -> float:
        s = np.clip((p_ + w * v_) / (1.0 + w), 1e-3, 1 - 1e-3)
        return float(-np.mean(y_ * np.log(s) + (1 - y_) * np.log(1 - s)))

    return float(grid[int(np.argmin([logloss(w) for w in grid]))])


def fit(preds: Predictions, seed: int = 0) -> dict[str, object]:
    calib_faces, _ = preds.face_halves(0)
    voice_cal = np.isin(preds.speaker, sorted(SPEECH_CALIBRATION))
    t_face = fit_temperature(preds.face[calib_faces], preds.face_y[calib_faces])
    t_voice = fit_temperature(preds.voice[voice_cal], preds.voice_y[voice_cal])
    face, voice, y = preds.pairs(SPEECH_CALIBRATION, calib_faces, seed)
    a, b = fit_pool(calibrate(face, t_face), calibrate(voice, t_voice), y)
    from edge.lab.evaluate.fusion_stress import physio_windows

    windows = physio_windows(data_root() / "physio" / "stress_predict")
    return {"temperature_face": t_face, "temperature_voice": t_voice,
            "pool_face": a, "pool_voice": b,
            "stress_voice": fit_stress_voice(preds, windows),
            "calibration": {"face_crops": int(calib_faces.size),
                            "voice_clips": int(voice_cal.sum()), "pairs": int(y.size),
                            "speakers": sorted(SPEECH_CALIBRATION), "seed": seed}}


def fitted_settings(params: dict[str, Any]) -> FusionSettings:
    """FusionSettings with the fitted temperatures, pooling exponents and voice stress
    weight of `params` (the report's flat keys, e.g. `temperature_face`)."""
    return FusionSettings(
        face=ModalityFusion(temperature=params["temperature_face"], pool=params["pool_face"]),
        voice=ModalityFusion(temperature=params["temperature_voice"],
                             pool=params["pool_voice"]),
        stress_voice=params["stress_voice"])


def main() -> None:
    preds = predictions(data_root())
    params = fit(preds)
    settings = fitted_settings(params)
    report = {**params, "test": evaluate_fusion(data_root(), settings=settings, preds=preds),
              "command": "python -m models.training.fusion"}
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"face": asdict(settings.face), "voice": asdict(settings.voice),
                      "stress_voice": settings.stress_voice}))
    print(json.dumps(report["test"]))


if __name__ == "__main__":
    main()
