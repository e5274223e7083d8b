"""Electrodermal activity over a window: tonic/phasic split, SCRs, level and slope.

Method (documented, the "smooth median" split BIOPAC AcqKnowledge and
NeuroKit2's `eda_phasic(method="smoothmedian")` use):

1. signals above 4 Hz are low-passed and decimated to about 4 Hz by block means
   (skin conductance changes over seconds; the Empatica E4 records at 4 Hz);
2. tonic = running median over 4 s (odd length, ends repeat the edge value),
   phasic = signal - tonic;
3. SCRs = peaks of the phasic signal with a prominence of at least
   `MIN_AMPLITUDE_US` (0.05 µS), at least 1 s apart; each with its onset (the lowest
   phasic point in the 4 s before the peak), amplitude (peak - onset) and rise time;
4. SCL = mean tonic level over the last 10 s; slope = least-squares slope of the
   tonic over the window, µS per minute;
5. flags: no contact (SCL under 0.05 µS, the E4 floor off the skin), motion
   artefact (a step of more than 1 µS between consecutive 4 Hz samples, far faster
   than sweat glands act).

All in µS. Checked against NeuroKit2's decomposition on a real E4 session in
tests/test_physio.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.dsp import find_peaks_prominence

F64 = npt.NDArray[np.float64]
TARGET_FS = 4.0
MEDIAN_S = 4.0
MIN_AMPLITUDE_US = 0.05
SCL_WINDOW_S = 10.0
CONTACT_MIN_US = 0.05
ARTEFACT_STEP_US = 1.0


@dataclass(frozen=True)
class Scr:
    onset_s: float
    peak_s: float
    amplitude_us: float

    @property
    def rise_s(self) -> float:
        return self.peak_s - self.onset_s


@dataclass(frozen=True)
class EdaWindow:
    fs: float
    tonic: F64
    phasic: F64
    scrs: list[Scr]
    scl_us: float
    slope_us_per_min: float
    contact: bool
    artefact: bool

    @property
    def scr_per_min(self) -> float:
        return 60.0 * len(self.scrs) / max(1e-9, self.tonic.size / self.fs)


def to_4hz(x: F64, fs: float) -> tuple[F64, float]:
    """Block means down to about 4 Hz (the block mean is the anti-alias filter)."""
    factor = max(1, round(fs / TARGET_FS))
    if factor == 1:
        return np.asarray(x, dtype=np.float64), fs
    n = x.size // factor * factor
    return np.asarray(x[:n], dtype=np.float64).reshape(-1, factor).mean(axis=1), fs / factor


def running_median(x: F64, size: int) -> F64:
    size += 1 - size % 2  # odd
    half = size // 2
    padded = np.pad(x, (half, half), mode="edge")
    # the middle of each window by one partition (np.median's checks cost more than it
    # here, once a second on a minute of samples)
    return np.partition(np.lib.stride_tricks.sliding_window_view(padded, size), half,
                        axis=1)[:, half]


def decompose(x: F64, fs: float) -> tuple[F64, F64]:
    """(tonic, phasic) of a signal at `fs`; tonic + phasic == x."""
    tonic = running_median(x, int(MEDIAN_S * fs))
    return tonic, x - tonic


def _slope_per_min(y: F64, rate: float) -> float:
    """Least-squares slope of y against time in minutes (np.polyfit's first coefficient)."""
    t = np.arange(y.size) / (rate * 60.0)
    tc = t - t.mean()
    return float(np.dot(tc, y - y.mean()) / np.dot(tc, tc))


def analyse(eda_us: npt.ArrayLike, fs: float) -> EdaWindow | None:
    """Everything above over one window (None when under 4 s of signal)."""
    x, rate = to_4hz(np.asarray(eda_us, dtype=np.float64), fs)
    if x.size < MEDIAN_S * rate:
        return None
    tonic, phasic = decompose(x, rate)
    peaks, _ = find_peaks_prominence(phasic, MIN_AMPLITUDE_US, distance=max(1, int(rate)))
    back = int(MEDIAN_S * rate)
    scrs = []
    for p in peaks:
        lo = max(0, int(p) - back)
        onset = lo + int(np.argmin(phasic[lo:p + 1]))
        amp = float(phasic[p] - phasic[onset])
        if amp >= MIN_AMPLITUDE_US and onset < p:
            scrs.append(Scr(onset / rate, int(p) / rate, amp))
    n_scl = max(1, int(SCL_WINDOW_S * rate))
    slope = _slope_per_min(tonic, rate) if tonic.size > 2 else 0.0
    scl = float(tonic[-n_scl:].mean())
    return EdaWindow(rate, tonic, phasic, scrs, scl, slope, contact=scl > CONTACT_MIN_US,
                     artefact=bool(np.any(np.abs(np.diff(x)) > ARTEFACT_STEP_US)))
