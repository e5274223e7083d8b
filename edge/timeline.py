"""`affectd replay … --plot OUT.png`: the fused output of recorded inputs, over time.

The same analyzers and `LateFusion` as the daemon run over files in media time
(a video for the face path, a speech file for the voice path, an Empatica E4
folder for physiology; any subset), and the fused state is sampled every
`step_s`. The plot (drawn with OpenCV: no plotting library on the device) has
two panels: fused valence, arousal and stress in [-1, 1], and each modality's
share of the fusion weight (prior x quality x age decay), stacked to 1.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.fusion import LateFusion
from edge.messages import MODALITIES, AudioChunk, ModalityEstimate, VideoFrame
from edge.settings import FaceSettings, FusionSettings, PhysioSettings

COLOURS = {"valence": (200, 120, 30), "arousal": (30, 150, 240), "stress": (40, 40, 210),
           "face": (60, 170, 60), "voice": (170, 80, 160), "physio": (60, 60, 200)}


def _face(video: Path, settings: FaceSettings, limit: float) -> list[ModalityEstimate]:
    from edge.vision.analyzer import FaceAnalyzer
    from edge.vision.tools import frames

    analyzer = FaceAnalyzer(settings, threads=2)
    out: list[ModalityEstimate] = []
    for i, t, img in frames(video):
        if t > limit:
            break
        out += analyzer.process(VideoFrame(t, i, img))
    return out


def _voice(audio: Path, limit: float) -> list[ModalityEstimate]:
    import soundfile as sf

    from edge.sources.microphone import ANALYSIS_RATE, to_analysis_rate
    from edge.speech.analyzer import VoiceAnalyzer

    data, rate = sf.read(str(audio), dtype="float32", always_2d=True)
    x = to_analysis_rate(data.mean(axis=1), int(rate))[: int(limit * ANALYSIS_RATE)]
    analyzer = VoiceAnalyzer(threads=1)
    step = ANALYSIS_RATE // 10
    out: list[ModalityEstimate] = []
    for i in range(0, x.size, step):
        part = x[i:i + step]
        out += analyzer.process(AudioChunk((i + part.size) / ANALYSIS_RATE, part, ANALYSIS_RATE))
    return out


def _physio(e4: Path, limit: float, calibration_s: float) -> list[ModalityEstimate]:
    from edge.analyzers.physio import PhysioAnalyzer
    from edge.sources.base import EndOfStream
    from edge.sources.physio import E4ReplaySource

    src = E4ReplaySource(PhysioSettings(source="e4", path=e4, realtime=False, loop=False,
                                        chunk_s=1.0))
    analyzer = PhysioAnalyzer(calibration_s)
    src.open()
    out: list[ModalityEstimate] = []
    try:
        while src.position_s < limit:
            items = src.read()
            for item in items:
                out += analyzer.process(replace(item, ts=src.position_s))
    except EndOfStream:
        pass
    finally:
        src.close()
    return out


def timeline(video: Path | None = None, audio: Path | None = None, e4: Path | None = None,
             seconds: float = 120.0, step_s: float = 0.5,
             fusion: FusionSettings | None = None, face: FaceSettings | None = None,
             calibration_s: float = 30.0) -> list[dict[str, Any]]:
    """Rows of fused values and weight shares, every `step_s` of media time."""
    cfg = fusion or FusionSettings()
    estimates: list[ModalityEstimate] = []
    if video is not None:
        estimates += _face(video, face or FaceSettings(), seconds)
    if audio is not None:
        estimates += _voice(audio, seconds)
    if e4 is not None:
        estimates += _physio(e4, seconds, calibration_s)
    if not estimates:
        raise SystemExit("affectd replay --plot: no estimate from the inputs given")
    estimates.sort(key=lambda e: e.ts)
    enabled = tuple(m for m in MODALITIES if any(e.modality == m for e in estimates))
    fusion_ = LateFusion(cfg, enabled)
    end = min(seconds, estimates[-1].ts)
    rows: list[dict[str, Any]] = []
    k = 0
    for t in np.arange(0.0, end + 1e-9, step_s):
        while k < len(estimates) and estimates[k].ts <= t:
            fusion_.update(estimates[k])
            k += 1
        s = fusion_.fuse(now=float(t), wall=float(t))
        weights = {}
        for m, st in s.modalities.items():
            if st.present and st.age_s is not None:
                prior = float(getattr(cfg, f"weight_{m}"))
                weights[m] = prior * st.quality * math.exp(-st.age_s / cfg.age_decay_s)
        total = sum(weights.values())
        rows.append({"t": round(float(t), 2), "valence": s.valence, "arousal": s.arousal,
                     "stress": s.stress, "emotion": s.emotion,
                     "share": {m: round(w / total, 3) if total > 0 else 0.0
                               for m, w in weights.items()}})
    return rows


def plot(rows: list[dict[str, Any]], out: Path, width: int = 1200, height: int = 720) -> None:
    img: npt.NDArray[np.uint8] = np.full((height, width, 3), 255, np.uint8)
    left, right, top = 70, width - 170, 40
    mid = int(height * 0.62)
    t_max = max(rows[-1]["t"], 1e-6)

    def x_of(t: float) -> int:
        return int(left + (right - left) * t / t_max)

    def panel(y0: int, y1: int, lo: float, hi: float, title: str) -> Any:
        cv2.rectangle(img, (left, y0), (right, y1), (0, 0, 0), 1)
        for v in np.linspace(lo, hi, 5):
            y = int(y1 - (y1 - y0) * (v - lo) / (hi - lo))
            cv2.line(img, (left, y), (right, y), (225, 225, 225), 1)
            cv2.putText(img, f"{v:+.1f}" if lo < 0 else f"{v:.2f}", (8, y + 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, title, (left, y0 - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                    cv2.LINE_AA)
        return lambda v: int(y1 - (y1 - y0) * (v - lo) / (hi - lo))

    y_val = panel(top, mid - 40, -1.0, 1.0, "fused valence / arousal / stress")
    for j, key in enumerate(("valence", "arousal", "stress")):
        pts = [(x_of(r["t"]), y_val(r[key])) for r in rows if r[key] is not None]
        for a, b in itertools.pairwise(pts):
            cv2.line(img, a, b, COLOURS[key], 2, cv2.LINE_AA)
        cv2.putText(img, key, (right + 15, top + 20 + 22 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    COLOURS[key], 2, cv2.LINE_AA)
    y_sh = panel(mid, height - 50, 0.0, 1.0, "share of the fusion weight per modality")
    for i in range(len(rows) - 1):
        x0, x1 = x_of(rows[i]["t"]), max(x_of(rows[i + 1]["t"]), x_of(rows[i]["t"]) + 1)
        acc = 0.0
        for m in MODALITIES:
            share = rows[i]["share"].get(m, 0.0)
            if share > 0:
                cv2.rectangle(img, (x0, y_sh(acc + share)), (x1, y_sh(acc)), COLOURS[m], -1)
                acc += share
    for j, m in enumerate(MODALITIES):
        cv2.putText(img, m, (right + 15, mid + 20 + 22 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    COLOURS[m], 2, cv2.LINE_AA)
    for t in np.linspace(0, t_max, 7):
        cv2.putText(img, f"{t:.0f} s", (x_of(float(t)) - 12, height - 28),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(out), img):
        raise SystemExit(f"affectd replay: cannot write {out}")
