"""Prosody of a speech segment in numpy: pitch (YIN) with voicing, energy, speaking rate.

- `yin` and `rms` live in `edge.voice.pitch` (the daemon's prosody head uses them
  too; YIN equals `librosa.yin`, a test checks it); voiced frames are those under
  `VOICING_THRESHOLD` aperiodicity with energy above the segment's floor.
- `speaking_rate`: syllable nuclei per second of speaking time — peaks of the
  smoothed energy envelope in voiced stretches, at least 100 ms apart and 2 dB
  above the dips beside them (a proxy in the spirit of de Jong & Wempe 2009),
  over the voiced time joined across gaps under 0.3 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.dsp import find_peaks_prominence
from edge.voice.pitch import VOICING_THRESHOLD, rms, yin

F64 = npt.NDArray[np.float64]
__all__ = ["VOICING_THRESHOLD", "Prosody", "prosody", "rms", "speaking_rate", "yin"]


@dataclass(frozen=True)
class Prosody:
    pitch_hz: float | None
    """Median f0 of the voiced frames."""
    pitch_range_st: float | None
    """10th to 90th percentile of voiced f0, semitones."""
    voiced_fraction: float
    energy_db: float
    energy_sd_db: float
    speaking_rate: float | None
    """Syllable nuclei per second of speaking time."""


def speaking_rate(energy_db: F64, voiced: npt.NDArray[np.bool_], frame_s: float) -> float | None:
    """Syllable nuclei per second of speaking time (voiced stretches joined across gaps
    under 0.3 s, i.e. the unvoiced consonants between syllables; pauses excluded)."""
    idx = np.flatnonzero(voiced)
    if idx.size * frame_s < 0.3:
        return None
    gaps = np.diff(idx) * frame_s
    speaking = frame_s + float(np.sum(np.where(gaps <= 0.3, gaps, frame_s)))
    smooth = np.convolve(energy_db, np.ones(3) / 3, mode="same")
    peaks, _ = find_peaks_prominence(np.where(voiced, smooth, smooth.min()), 2.0,
                                     distance=max(1, round(0.1 / frame_s)))
    return float(np.sum(voiced[peaks]) / speaking)


def prosody(y: F64, sr: int = 16000) -> Prosody:
    """Prosodic summary of a speech segment (16 kHz mono float)."""
    frame, hop = 1024, 256
    f0, aperiodic = yin(y, 65.0, 400.0, sr, frame, hop)
    energy = rms(y, frame, hop)
    db = 20 * np.log10(energy + 1e-6)
    floor = np.percentile(db, 10) + 6.0
    voiced = (aperiodic < VOICING_THRESHOLD) & (db > floor)
    f0v = f0[voiced]
    semis = 12 * np.log2(f0v / 100.0) if f0v.size else f0v
    return Prosody(
        pitch_hz=float(np.median(f0v)) if f0v.size else None,
        pitch_range_st=float(np.percentile(semis, 90) - np.percentile(semis, 10))
        if f0v.size >= 5 else None,
        voiced_fraction=float(voiced.mean()) if voiced.size else 0.0,
        energy_db=float(np.mean(db)), energy_sd_db=float(np.std(db)),
        speaking_rate=speaking_rate(db, voiced, hop / sr))
