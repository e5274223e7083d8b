"""Heart-rate variability from RR intervals, in numpy: time and frequency domain.

- Beat classification (`normal_intervals`): an RR interval is NN only when both its
  beats are normal. Malik's rule against a local reference (the median of the last
  five NN intervals): an interval more than 20 % shorter ends a premature beat, so it
  and the interval after it (the compensatory pause) are not NN; one more than 20 %
  longer is a pause or a missed beat. Kamath's rule against the previous NN interval
  (a change beyond -32.5 % / +24.5 %) catches abrupt jumps the reference lags behind.
  With the ECG, the detector's shape cue (`ShapeCue`: a QRS much wider than the recent
  normal ones, or of the other polarity) marks a beat ectopic whatever its timing.
  Sixteen intervals in a row without an NN one restart the reference.
  What is left is the "NN" series everything below is computed from; successive
  differences are taken only between intervals that were adjacent.
- Time domain: mean HR, SDNN (sample standard deviation), RMSSD and pNN50 (share
  of successive differences over 50 ms), over NN intervals in milliseconds.
- Frequency domain: the Lomb-Scargle periodogram of the NN series at its own,
  uneven beat times (no resampling), mean removed, on a 0.0033-0.5 Hz grid in
  0.0025 Hz steps;
  LF = power in 0.04-0.15 Hz, HF = 0.15-0.4 Hz, both by trapezoidal integration,
  and LF/HF. LF needs at least two minutes of beats to mean anything.

Checked against neurokit2's `hrv_time` and `hrv_frequency(psd_method="lomb")` on
the same NN series (its beat times given, so it too skips differences across removed
beats) in tests/unit/test_physio.py; the classification against MIT-BIH's beat labels
there too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.dsp import small_median, trapezoid

F64 = npt.NDArray[np.float64]
LF_BAND = (0.04, 0.15)
HF_BAND = (0.15, 0.4)


@dataclass(frozen=True)
class Hrv:
    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50: float
    """Percent of successive NN differences above 50 ms."""
    lf: float | None = None
    """Power in the LF band, ms^2 (None: under two minutes of beats)."""
    hf: float | None = None
    lf_hf: float | None = None


def clean_rr(rr_s: F64, tolerance: float = 0.25) -> npt.NDArray[np.bool_]:
    """Mask of the intervals kept: within `tolerance` of the window's median."""
    rr = np.asarray(rr_s, dtype=np.float64)
    if rr.size == 0:
        return np.zeros(0, dtype=bool)
    med = small_median(rr)
    return np.abs(rr - med) < tolerance * med


MALIK = 0.20
KAMATH = (0.325, 0.245)
RESTART_AFTER = 16
"""Intervals in a row with none NN (or odd beats in a row) after which the reference is
learnt anew."""
WIDE = 1.4
"""A QRS this much wider than the recent normal ones is ectopic (`ShapeCue`)."""


class NNClassifier:
    """The beat rules above, one RR interval at a time (the daemon labels each interval
    once, when it arrives): `push(rr)` -> True when the interval is NN."""

    def __init__(self, start: float | None = None) -> None:
        """`start`: the reference until three NN intervals are known (default: the median
        of the first five intervals pushed)."""
        self._start = start
        self._first: list[float] = []
        self._recent: list[float] = []
        self._raw: list[float] = []  # the last intervals, whatever they were
        self._rejected = 0  # intervals in a row that were not NN
        self._skip = False

    def push(self, r: float, odd_shape: bool = False) -> bool:
        """`odd_shape`: the beat ending this interval looks unlike the wearer's recent
        normal beats (the detector's shape cue, `ShapeCue`): it is ectopic whatever its
        timing, and both intervals around it are not NN."""
        nn = self._push(r, odd_shape)
        self._raw = [*self._raw[-7:], r]
        self._rejected = 0 if nn else self._rejected + 1
        if self._rejected >= RESTART_AFTER:
            # nothing NN for a while: the reference itself may be wrong (it was learnt
            # from ectopic beats, or the rate moved): start again from the last intervals
            self._recent, self._first = [], []
            self._start = sorted(self._raw)[len(self._raw) // 2]
            self._rejected = 0
        return nn

    def _push(self, r: float, odd_shape: bool) -> bool:
        if self._skip:  # the compensatory pause after a premature beat
            self._skip = False
            return False
        recent = self._recent
        if len(recent) >= 3:
            last = sorted(recent[-5:])
            m = len(last)
            ref = last[m // 2] if m % 2 else 0.5 * (last[m // 2 - 1] + last[m // 2])
        elif self._start is not None:
            ref = self._start
        else:
            if len(self._first) < 5:
                self._first.append(r)
            ref = sorted(self._first)[len(self._first) // 2]
        if r < (1 - MALIK) * ref or odd_shape:
            self._skip = True  # a premature (or odd) beat: this interval and the next are
            return False       # not NN
        if r > (1 + MALIK) * ref:
            return False  # a pause or a missed beat
        if recent and not -KAMATH[0] * recent[-1] <= r - recent[-1] <= KAMATH[1] * recent[-1]:
            return False
        recent.append(r)
        if len(recent) > 16:
            del recent[:8]
        return True


class ShapeCue:
    """Is a beat's QRS unlike the wearer's recent normal ones? From the detector's
    measures (`StreamingRPeakDetector.shapes`): its width, the band-passed amplitude per
    unit of steepest slope, above `WIDE` x the median of the last eight normal-shaped
    beats (a premature ventricular beat is wide), or its polarity against theirs."""

    def __init__(self) -> None:
        self._widths: list[float] = []
        self._signs: list[bool] = []
        self._odd_run = 0

    def odd(self, slope: float, shape: float) -> bool:
        width = abs(shape) / max(slope, 1e-12)
        sign = shape >= 0
        odd = False
        if len(self._widths) >= 5:
            w = sorted(self._widths)
            m = len(w)
            median = w[m // 2] if m % 2 else 0.5 * (w[m // 2 - 1] + w[m // 2])
            odd = width > WIDE * median or sign != (2 * sum(self._signs) >= len(self._signs))
        self._odd_run = self._odd_run + 1 if odd else 0
        if self._odd_run >= RESTART_AFTER:  # these are the wearer's beats now: relearn
            self._widths, self._signs, self._odd_run, odd = [], [], 0, False
        if not odd:
            self._widths = [*self._widths[-7:], width]
            self._signs = [*self._signs[-7:], sign]
        return odd


def normal_intervals(rr_s: F64) -> npt.NDArray[np.bool_]:
    """Mask of the NN intervals (both beats normal) of an RR series (seconds), the series'
    median as the first reference."""
    rr = np.asarray(rr_s, dtype=np.float64)
    if rr.size == 0:
        return np.zeros(0, dtype=bool)
    c = NNClassifier(float(np.median(rr)))
    return np.array([c.push(r) for r in rr.tolist()], dtype=bool)


def lomb_scargle(t: F64, x: F64, freqs: F64) -> F64:
    """Classic Lomb-Scargle periodogram (power in units of x^2 per Hz-bin spacing as the
    normalised variance-preserving form: sum over the grid ~ variance of x)."""
    x = x - x.mean()
    w = 2 * np.pi * freqs[:, None]
    tau = np.arctan2(np.sin(2 * w * t).sum(axis=1), np.cos(2 * w * t).sum(axis=1)) / (
        2 * w[:, 0])
    arg = w * (t - tau[:, None])
    c, s = np.cos(arg), np.sin(arg)
    return 0.5 * ((x @ c.T) ** 2 / (c * c).sum(axis=1) + (x @ s.T) ** 2 / (s * s).sum(axis=1))


def hrv(rr_s: F64, beat_t: F64 | None = None, min_lf_s: float = 120.0,
        nn_mask: npt.NDArray[np.bool_] | None = None) -> Hrv | None:
    """HRV of RR intervals (seconds); `beat_t` are the times of the beats ending each
    interval (default: their cumulative sum); `nn_mask` their NN mask when already known
    (default: `normal_intervals`). None with fewer than 5 NN intervals."""
    rr = np.asarray(rr_s, dtype=np.float64)
    t = np.cumsum(rr) if beat_t is None else np.asarray(beat_t, dtype=np.float64)
    keep = normal_intervals(rr) if nn_mask is None else nn_mask
    nn, tn = rr[keep] * 1e3, t[keep]
    if nn.size < 5:
        return None
    diff = np.diff(nn)
    # successive differences only between intervals that were adjacent originally
    adjacent = np.diff(np.flatnonzero(keep)) == 1
    sd = diff[adjacent]
    base = Hrv(mean_hr_bpm=float(60e3 / nn.mean()), sdnn_ms=float(nn.std(ddof=1)),
               rmssd_ms=float(np.sqrt(np.mean(sd**2))) if sd.size else 0.0,
               pnn50=float(100.0 * np.mean(np.abs(sd) > 50.0)) if sd.size else 0.0)
    if tn[-1] - tn[0] < min_lf_s:
        return base
    freqs = np.arange(0.0033, 0.5, 0.0025)
    p = lomb_scargle(tn - tn[0], nn, freqs)
    # scale so the spectrum integrates to the variance of the series (ms^2)
    p *= nn.var() / max(1e-12, trapezoid(p, freqs))

    def band(lo: float, hi: float) -> float:
        m = (freqs >= lo) & (freqs < hi)
        return trapezoid(p[m], freqs[m])

    lf, hf = band(*LF_BAND), band(*HF_BAND)
    return Hrv(base.mean_hr_bpm, base.sdnn_ms, base.rmssd_ms, base.pnn50, lf, hf,
               lf / hf if hf > 0 else None)
