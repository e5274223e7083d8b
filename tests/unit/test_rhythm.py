"""The rhythm check (edge/physio/rhythm.py) and what the physiology analyzer does with it:
a generated wearer's sinus rhythm reads as "ok", a flat line as "no_contact", a
flutter-like wave as "unreadable"; while the ECG is unreadable the analyzer publishes no
beat-derived figure, quality 0, and names the state for `stats`. The check on real
flutter/fibrillation records is in tests/integration/test_cli_physio.py."""

from __future__ import annotations

import numpy as np

from edge.messages import BioSamples
from edge.physio.analyzer import PhysioAnalyzer
from edge.physio.rhythm import RhythmMonitor
from edge.physio.rpeaks import StreamingRPeakDetector
from edge.physio.synthetic import SyntheticPhysio

FS = 130.0


def sinus(seconds: int, seed: int = 3) -> np.ndarray:
    g = SyntheticPhysio(seed=seed)
    return np.concatenate([g.ecg(float(k), 130) for k in range(seconds)])


def flutter(seconds: int, seed: int = 0) -> np.ndarray:
    """A 4-5 Hz quasi-sinusoidal wave of about 1 mV, wandering in frequency and size."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    f = 4.5 + 0.4 * np.sin(2 * np.pi * 0.1 * t)
    amp = 600 + 200 * np.sin(2 * np.pi * 0.3 * t)
    return amp * np.sin(2 * np.pi * np.cumsum(f) / FS) + rng.normal(0, 20, t.size)


def states(x: np.ndarray) -> list[str]:
    det, mon = StreamingRPeakDetector(FS), RhythmMonitor(FS)
    mon.trace = []
    beats: list[float] = []
    for k in range(0, x.size, 73):
        beats += det.process(x[k:k + 73])
        mon.process(x[k:k + 73], beats)
    return [s for _, _, s in mon.trace]


def test_sinus_reads_ok_flat_is_no_contact_flutter_is_unreadable() -> None:
    assert set(states(sinus(60))) == {"ok"}
    assert set(states(np.full(int(30 * FS), 12.0))[2:]) == {"no_contact"}
    got = states(flutter(40))
    assert got[8:].count("unreadable") >= 0.9 * len(got[8:]), got


def test_analyzer_publishes_nothing_beat_derived_from_an_unreadable_ecg() -> None:
    an = PhysioAnalyzer(calibration_s=10.0, model=None)
    out = []
    x = np.concatenate([sinus(40), flutter(40)])
    for k in range(0, x.size, 130):
        out += an.process(BioSamples(k / FS, "ecg", FS, x[k:k + 130]))
        if k == 39 * 130:
            assert an.signal_faults() == [] and "hr_bpm" in out[-1].metrics
    last = out[-1]
    assert an.signal_faults() == ["ecg: rhythm unreadable"]
    assert last.quality == 0.0 and last.stress is None and last.arousal is None
    assert "hr_bpm" not in last.metrics and "rmssd_ms" not in last.metrics
