"""`affectd replay … --plot OUT.png`: the fused output of recorded inputs, over time.

The daemon's own file sources (not realtime, no loop) feed its analyzers and
`LateFusion` in media time (a video for the face path, a speech file for the
voice path, an Empatica E4 folder for physiology; any subset), and the fused
state is sampled every `step_s`. The plot (matplotlib, a lab dependency) has two
panels: fused valence, arousal and stress in [-1, 1], and each modality's share
of the fusion weight (prior x quality x age decay), stacked to 1.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edge.fusion import LateFusion
from edge.lab.media import media_items, video_source
from edge.messages import MODALITIES, ModalityEstimate
from edge.settings import FaceSettings, FusionSettings

COLOURS = {"valence": "#1e78c8", "arousal": "#f0961e", "stress": "#d22828",
           "face": "#3caa3c", "voice": "#a050aa", "physio": "#c83c3c"}


def _face(video: Path, settings: FaceSettings, limit: float) -> list[ModalityEstimate]:
    from edge.face.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer(settings, threads=2)
    out: list[ModalityEstimate] = []
    for item in media_items(video_source(video), limit):
        out += analyzer.process(item)
    return out


def _voice(audio: Path, limit: float) -> list[ModalityEstimate]:
    from edge.sources.microphone.file import AudioFileSource, FileMicrophoneSettings
    from edge.voice.analyzer import VoiceAnalyzer

    src = AudioFileSource(FileMicrophoneSettings(enabled=True, backend="file", path=audio,
                                                 realtime=False, loop=False, chunk_s=0.1))
    analyzer = VoiceAnalyzer(threads=1)
    out: list[ModalityEstimate] = []
    for item in media_items(src, limit):
        out += analyzer.process(item)
    return out


def _physio(e4: Path, limit: float, calibration_s: float) -> list[ModalityEstimate]:
    from edge.physio.analyzer import PhysioAnalyzer
    from edge.sources.wearable.e4 import E4ReplaySource, E4Settings

    src = E4ReplaySource(E4Settings(enabled=True, backend="e4", path=e4, realtime=False,
                                    loop=False, chunk_s=1.0))
    analyzer = PhysioAnalyzer(calibration_s)
    out: list[ModalityEstimate] = []
    for item in media_items(src, limit):
        out += analyzer.process(item)
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
                prior = cfg.modality(m).weight
                weights[m] = prior * st.quality * math.exp(-st.age_s / cfg.age_decay_s)
        total = sum(weights.values())
        rows.append({"t": round(float(t), 2), "valence": s.valence, "arousal": s.arousal,
                     "stress": s.stress, "emotion": s.emotion,
                     "share": {m: round(w / total, 3) if total > 0 else 0.0
                               for m, w in weights.items()}})
    return rows


def plot(rows: list[dict[str, Any]], out: Path, width: int = 1200, height: int = 720) -> None:
    """Draw the two panels into a PNG of `width` x `height` pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    fig, (top, low) = plt.subplots(2, 1, figsize=(width / dpi, height / dpi), dpi=dpi,
                                   sharex=True, gridspec_kw={"height_ratios": [1.6, 1.0]})
    t = np.array([r["t"] for r in rows])
    for key in ("valence", "arousal", "stress"):
        y = np.array([np.nan if r[key] is None else r[key] for r in rows], float)
        top.plot(t, y, color=COLOURS[key], lw=2, label=key)
    top.set_ylim(-1.0, 1.0)
    top.set_title("fused valence / arousal / stress", loc="left")
    top.grid(True, color="#e1e1e1")
    top.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    shares = [np.array([r["share"].get(m, 0.0) for r in rows]) for m in MODALITIES]
    low.stackplot(t, *shares, colors=[COLOURS[m] for m in MODALITIES], labels=list(MODALITIES),
                  step="post")
    low.set_ylim(0.0, 1.0)
    low.set_title("share of the fusion weight per modality", loc="left")
    low.set_xlabel("media time (s)")
    low.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.subplots_adjust(left=0.06, right=0.86, top=0.94, bottom=0.09, hspace=0.25)
    try:
        fig.savefig(out, dpi=dpi)
    except OSError as exc:
        raise SystemExit(f"affectd replay: cannot write {out} ({exc})") from None
    finally:
        plt.close(fig)
