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
variation of their intervals and their count. A logistic model over them and four
of their products (`MODEL_INPUTS`)
(`WEIGHTS`, fitted by models/training/rhythm.py on the malignant-arrhythmia,
Creighton and MIT-BIH records in ../shared) gives a probability, a median over the
last five windows and a threshold (`UNREADABLE_P`) make the call. One rule overrides
the model: a window whose waveform clearly repeats (autocorrelation at least
`REPEATS` at its fundamental period) at `SLOWEST_VF_PERIOD_S` or slower is a rhythm at
133 a minute or less, never flutter or fibrillation (150-500 a minute), however wide
and smooth its complexes look — the case of wide-complex rhythms, which the waveform
features alone take for flutter. This is a signal-quality gate, not a
diagnostic device: it does not detect arrhythmias and must never be relied on as
a monitor of the heart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from edge.dsp import SosFilter, butter_bandpass_sos, small_median

F64 = npt.NDArray[np.float64]
WINDOW_S = 4.0
BEATS_S = 8.0
SMOOTH = 5
FLAT_UV = 50.0
FEATURES = ("leakage", "concentration", "log_hf_share", "above_fifth", "log_ptp", "rr_cv",
            "rr_sd_ratio", "beats_per_s", "period_s", "repeat")
MODEL_INPUTS = (*FEATURES[:8], "concentration_clean", "concentration_spread",
                "leakage_concentration", "irregular_rate")
"""What the logistic model reads: the first eight FEATURES (the last two are the rule's)
and four products of them: spectral concentration where little power is above 12 Hz
(noise spreads power there, flutter does not), concentration times the share of
samples above a fifth of the peak, leakage times concentration, and RR variation
times the beat rate (`model_inputs`)."""
# models/training/rhythm.py: weights of MODEL_INPUTS (standardisation folded in), then
# the intercept
WEIGHTS = (-18.0259, -58.0414, 0.7812, 2.0046, -1.4012, 18.8198, 0.735, 4.3196, 52.7962,
           -2.2252, 15.5663, -6.242)
INTERCEPT = 11.9189
UNREADABLE_P = 0.2
"""The median probability above which the window is unreadable (models/training/rhythm.py
reports the leave-one-record-out figures at it)."""
SLOWEST_VF_PERIOD_S = 0.45
REPEATS = 0.3
PERIOD_RANGE_S = (0.12, 1.6)


def fundamental_period(w: F64, fs: float) -> tuple[float, float]:
    """The waveform's repetition period (s) and its normalised autocorrelation there:
    the first autocorrelation peak, between `PERIOD_RANGE_S`, within 80 % of the
    highest there — the fundamental rather than a multiple of it."""
    n = w.size
    f = np.fft.rfft(w - w.mean(), 2 * n)
    ac = np.fft.irfft(f.real ** 2 + f.imag ** 2)[:n]
    lo, hi = int(PERIOD_RANGE_S[0] * fs), min(n - 1, int(PERIOD_RANGE_S[1] * fs))
    seg = ac[lo:hi]
    if seg.size < 3 or ac[0] <= 0:
        return 0.0, 0.0
    mid = seg[1:-1]
    peaks = np.flatnonzero((mid >= seg[:-2]) & (mid >= seg[2:]) & (mid >= 0.8 * seg.max()))
    k = int(peaks[0]) + 1 if peaks.size else int(np.argmax(seg))
    return (lo + k) / fs, float(seg[k] / ac[0])


def _spread(x: F64) -> float:
    """99th minus 1st percentile (np.percentile's linear interpolation) from one partition:
    np.percentile's own checks cost more than the sort here, once a second."""
    n = x.size
    lo_pos, hi_pos = 0.01 * (n - 1), 0.99 * (n - 1)
    lo_k, hi_k = int(lo_pos), int(hi_pos)
    ks = sorted({lo_k, min(lo_k + 1, n - 1), hi_k, min(hi_k + 1, n - 1)})
    p = np.partition(x, ks)
    lo = p[lo_k] + (lo_pos - lo_k) * (p[min(lo_k + 1, n - 1)] - p[lo_k])
    hi = p[hi_k] + (hi_pos - hi_k) * (p[min(hi_k + 1, n - 1)] - p[hi_k])
    return float(hi - lo)


@dataclass(frozen=True)
class _Grid:
    """What `window_features` needs of the frequency grid of an n-sample window."""

    hann: F64
    total: slice
    """1-30 Hz."""
    vf: npt.NDArray[np.intp]
    """The bins of 2.5-9 Hz, where flutter and fibrillation have their dominant frequency."""
    hf: slice
    """Above 12 Hz, up to 30."""
    within_1hz: int
    """Bins on either side of a bin that are within 1 Hz of it."""


@lru_cache(maxsize=4)
def _grid(n: int, fs: float) -> _Grid:
    freqs = np.fft.rfftfreq(n, 1.0 / fs)

    def span(mask: npt.NDArray[np.bool_]) -> slice:
        idx = np.flatnonzero(mask)
        return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)

    return _Grid(np.hanning(n), span((freqs >= 1.0) & (freqs <= 30.0)),
                 np.flatnonzero((freqs >= 2.5) & (freqs <= 9.0)),
                 span((freqs > 12.0) & (freqs <= 30.0)),
                 int(np.floor(1.0 / (freqs[1] - freqs[0]) + 1e-9)))


def window_features(w: F64, raw_ptp: float, fs: float, beat_t: F64,
                    period: bool = True) -> F64:
    """The model's inputs for one band-passed window `w` and the beat times of the last
    `BEATS_S` seconds; without `period` the rule's two (the waveform's period and how
    well it repeats, an autocorrelation) are left at 0."""
    n = w.size
    ad = float(np.abs(np.diff(w)).sum())
    half = int(np.pi * float(np.abs(w).sum()) / max(ad, 1e-9) + 0.5)
    half = max(1, min(half, n // 2))
    leak = float(np.abs(w[half:] + w[:-half]).sum()
                 / max(float((np.abs(w[half:]) + np.abs(w[:-half])).sum()), 1e-9))
    grid = _grid(n, fs)
    f = np.fft.rfft(w * grid.hann)
    spec = f.real ** 2 + f.imag ** 2
    total = float(spec[grid.total].sum()) + 1e-12
    k = grid.vf[int(np.argmax(spec[grid.vf]))]
    conc = float(spec[max(0, k - grid.within_1hz):k + grid.within_1hz + 1].sum()) / total
    hf = float(spec[grid.hf].sum()) / total
    a = np.abs(w)
    above = float((a > 0.2 * a.max()).mean()) if a.max() > 0 else 0.0
    rr = np.diff(beat_t)
    cv = float(rr.std() / rr.mean()) if rr.size >= 2 else 1.0
    sd = small_median(np.abs(np.diff(rr))) / float(rr.mean()) if rr.size >= 3 else 1.0
    return np.array([leak, conc, np.log(hf + 1e-3), above, np.log(raw_ptp + 1.0),
                     min(cv, 1.0), min(sd, 1.0), beat_t.size / BEATS_S,
                     *(fundamental_period(w, fs) if period else (0.0, 0.0))])


def slower_than_flutter(x: F64) -> bool:
    """The rule: FEATURES `x` of a waveform that repeats, slower than flutter can."""
    return bool(x[-2] >= SLOWEST_VF_PERIOD_S and x[-1] >= REPEATS)


def model_inputs(x: F64) -> F64:
    """MODEL_INPUTS of one window's (or, 2-D, many windows') FEATURES."""
    x = np.asarray(x, dtype=np.float64)
    conc, hf, above, leak = x[..., 1], np.exp(x[..., 2]), x[..., 3], x[..., 0]
    return np.concatenate([x[..., :8], np.stack(
        [conc * (1.0 - hf), conc * above, leak * conc, x[..., 5] * x[..., 7]], axis=-1)],
        axis=-1)


def unreadable_probability(x: F64) -> float:
    """The model's probability for one window's FEATURES; 0 for a rhythm slower than
    flutter or fibrillation can be."""
    if slower_than_flutter(x):
        return 0.0
    z = float(np.dot(WEIGHTS, model_inputs(x))) + INTERCEPT
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
        ptp = _spread(self._raw)
        feats: F64 | None = None
        if ptp < FLAT_UV:
            self._p.clear()
            self.state = "no_contact"
        else:
            recent = np.array([b for b in beats if self._t - BEATS_S < b <= self._t])
            # The rule can only lower a probability above the threshold to 0; below it the
            # median's call is the same either way, so the autocorrelation is skipped.
            feats = window_features(self._bp, ptp, self.fs, recent, period=False)
            p = unreadable_probability(feats)
            if p > UNREADABLE_P or self.trace is not None:
                feats[-2:] = fundamental_period(self._bp, self.fs)
                p = unreadable_probability(feats)
            self._p.append(p)
            ordered = sorted(self._p)  # at most five: the median without numpy's overhead
            mid = len(ordered) // 2
            median = ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
            self.state = "unreadable" if median > UNREADABLE_P else "ok"
        self.seconds[self.state] += 1
        if self.trace is not None:
            self.trace.append((self._t, feats, self.state))
