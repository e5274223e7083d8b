"""Is the ECG a readable beat sequence? A window-by-window check of the wearable's ECG.

Heart rate, HRV and stress are only meaningful when the ECG is a sequence of beats.
`RhythmMonitor` looks at the last 4 s of ECG every second and says one of:

- "ok": a readable beat sequence;
- "no_contact": a flat line (the strap off the skin, a lead off): under 50 µV
  peak to peak;
- "unreadable": organised like ventricular flutter or fibrillation — a
  quasi-sinusoidal wave rather than sharp QRS complexes, or beats too irregular
  and too many to be a rhythm. The physiology analyzer then publishes no
  beat-derived figure and names the state in `stats`.

The features of each window (band-passed 1-30 Hz): Kuo and Dillman's VF-filter
leakage (how well the signal cancels against itself half a period later),
the share of the 1-30 Hz power within 1 Hz of the dominant 2.5-9 Hz frequency,
the share above 12 Hz, the share of samples above a fifth of the window's peak,
the peak-to-peak amplitude, and — over the last 8 s of detected beats — the
variation of their intervals and their count. A logistic model over them
(`WEIGHTS`, fitted by models/training/rhythm.py on the malignant-arrhythmia,
Creighton and MIT-BIH records in ../shared), a median over the last five windows,
and a threshold of one half make the call. This is a signal-quality gate, not a
diagnostic device: it does not detect arrhythmias and must never be relied on as
a monitor of the heart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge.dsp import SosFilter, butter_bandpass_sos

F64 = npt.NDArray[np.float64]
WINDOW_S = 4.0
BEATS_S = 8.0
SMOOTH = 5
FLAT_UV = 50.0
FEATURES = ("leakage", "concentration", "log_hf_share", "above_fifth", "log_ptp", "rr_cv",
            "rr_sd_ratio", "beats_per_s")
# models/training/rhythm.py: weights of FEATURES, then the intercept
WEIGHTS = (-6.985, 0.329, -0.248, 0.993, -1.442, 6.595, 1.488, 2.404)
INTERCEPT = 6.135


def window_features(w: F64, raw_ptp: float, fs: float, beat_t: F64) -> F64:
    """The model's inputs for one band-passed window `w` and the beat times of the last
    `BEATS_S` seconds."""
    n = w.size
    ad = float(np.abs(np.diff(w)).sum())
    half = int(np.pi * float(np.abs(w).sum()) / max(ad, 1e-9) + 0.5)
    half = max(1, min(half, n // 2))
    leak = float(np.abs(w[half:] + w[:-half]).sum()
                 / max(float((np.abs(w[half:]) + np.abs(w[:-half])).sum()), 1e-9))
    spec = np.abs(np.fft.rfft(w * np.hanning(n))) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    total = float(spec[(freqs >= 1.0) & (freqs <= 30.0)].sum()) + 1e-12
    vf_band = (freqs >= 2.5) & (freqs <= 9.0)
    dominant = float(freqs[vf_band][np.argmax(spec[vf_band])])
    conc = float(spec[(freqs >= dominant - 1.0) & (freqs <= dominant + 1.0)].sum()) / total
    hf = float(spec[(freqs > 12.0) & (freqs <= 30.0)].sum()) / total
    a = np.abs(w)
    above = float((a > 0.2 * a.max()).mean()) if a.max() > 0 else 0.0
    rr = np.diff(beat_t)
    cv = float(rr.std() / rr.mean()) if rr.size >= 2 else 1.0
    sd = float(np.median(np.abs(np.diff(rr))) / rr.mean()) if rr.size >= 3 else 1.0
    return np.array([leak, conc, np.log(hf + 1e-3), above, np.log(raw_ptp + 1.0),
                     min(cv, 1.0), min(sd, 1.0), beat_t.size / BEATS_S])


def unreadable_probability(x: F64) -> float:
    z = float(np.dot(WEIGHTS, x)) + INTERCEPT
    return 1.0 / (1.0 + np.exp(-max(-50.0, min(50.0, z))))


class RhythmMonitor:
    """Feed ECG chunks (µV) and the detector's beat times; `state` is the latest call."""

    def __init__(self, fs: float) -> None:
        self.fs = float(fs)
        self._filter = SosFilter(butter_bandpass_sos(2, 1.0, min(30.0, 0.45 * fs), fs))
        self._n = round(WINDOW_S * fs)
        self._step = round(fs)
        self._bp = np.zeros(0)
        self._raw = np.zeros(0)
        self._since = 0
        self._t = 0.0
        self._p: deque[float] = deque(maxlen=SMOOTH)
        self.state = "ok"
        self.seconds = {"ok": 0, "no_contact": 0, "unreadable": 0}
        """Windows (one a second) in each state so far."""
        self.trace: list[tuple[float, F64 | None, str]] | None = None
        """When a list: (window end s, features or None when flat, state) of every window,
        for the lab's evaluation and the model's training."""

    def process(self, ecg: F64, beats: Sequence[float]) -> None:
        """`beats`: beat times (s since the first sample) found so far, oldest first."""
        x = np.asarray(ecg, dtype=np.float64)
        y = self._filter(x)
        for k in range(0, x.size, self._step):
            part = slice(k, min(x.size, k + self._step))
            self._bp = np.concatenate((self._bp, y[part]))[-self._n:]
            self._raw = np.concatenate((self._raw, x[part]))[-self._n:]
            self._since += part.stop - part.start
            self._t += (part.stop - part.start) / self.fs
            if self._bp.size == self._n and self._since >= self._step:
                self._since = 0
                self._decide(beats)

    def _decide(self, beats: Sequence[float]) -> None:
        lo, hi = np.percentile(self._raw, [1.0, 99.0])
        ptp = float(hi - lo)
        feats: F64 | None = None
        if ptp < FLAT_UV:
            self._p.clear()
            self.state = "no_contact"
        else:
            recent = np.array([b for b in beats if self._t - BEATS_S < b <= self._t])
            feats = window_features(self._bp, ptp, self.fs, recent)
            self._p.append(unreadable_probability(feats))
            self.state = "unreadable" if float(np.median(self._p)) > 0.5 else "ok"
        self.seconds[self.state] += 1
        if self.trace is not None:
            self.trace.append((self._t, feats, self.state))
