"""The rhythm check (edge/physio/rhythm.py) and what the physiology analyzer does with it:
a generated wearer's sinus rhythm reads as "ok", a flat line as "no_contact", a
flutter-like wave as "unreadable"; while the ECG is unreadable the analyzer publishes no
beat-derived figure, quality 0, and names the state for `stats`. The check on real
flutter/fibrillation records is in tests/integration/test_cli_physio.py."""

from __future__ import annotations

import numpy as np
import pytest

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


@pytest.mark.parametrize("n", [3, 10, 520, 1001])
def test_spread_is_the_percentile_range(n: int) -> None:
    from edge.physio.rhythm import _spread

    x = np.random.default_rng(n).normal(size=n)
    lo, hi = np.percentile(x, [1.0, 99.0])
    assert _spread(x) == pytest.approx(hi - lo, abs=1e-12)


def test_slow_repeating_wave_is_no_flutter() -> None:
    """A wide-complex rhythm at 100 a minute repeats every 0.6 s: the rule keeps it
    readable; a 5-Hz flutter-like sine repeats every 0.2 s and is left to the model."""
    from edge.physio.rhythm import fundamental_period, slower_than_flutter

    fs = 130.0
    t = np.arange(int(4 * fs)) / fs
    slow = np.sin(2 * np.pi * t / 0.6) ** 3
    period, strength = fundamental_period(slow, fs)
    assert period == pytest.approx(0.6, abs=0.02) and strength > 0.5
    fast_period, _ = fundamental_period(np.sin(2 * np.pi * 5.0 * t), fs)
    assert fast_period == pytest.approx(0.2, abs=0.02)
    feats = np.zeros(10)
    feats[-2:] = (period, strength)
    assert slower_than_flutter(feats)
    feats[-2] = fast_period
    assert not slower_than_flutter(feats)
