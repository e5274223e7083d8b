"""Streaming R-peak detection (Pan-Tompkins family), chunk by chunk, bounded memory.

Stages, all causal and stateful so the beats do not depend on chunk size:
band-pass 5-15 Hz (2nd-order Butterworth, `edge.dsp.SosFilter` with carried state),
derivative, squaring, 150 ms moving-window integration; a candidate is a local
maximum of the integrated signal within +-120 ms; candidates above the adaptive
threshold (NPK + 0.25 (SPK - NPK)) outside a 250 ms refractory period are beats;
a candidate within 360 ms of the last beat whose slope is under half of that
beat's is a T wave; when no beat comes for 1.66 mean RR the best candidate above
half the threshold is taken (search-back). The beat is placed at the largest
absolute band-passed value in the 150 ms before the integrated peak, so it
works for either ECG polarity. Fixed latency: 120 ms look-ahead plus the
integration window, about 0.27 s; search-back beats come later by nature.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from edge.dsp import SosFilter, butter_bandpass_sos, group_delay_s, running_max


class StreamingRPeakDetector:
    """Feed ECG chunks with `process`; get back beat times in seconds since the first sample."""

    def __init__(self, fs: float) -> None:
        self.fs = float(fs)
        hi = min(15.0, 0.45 * fs)
        sos = butter_bandpass_sos(2, 5.0, hi, fs)
        self._bandpass = SosFilter(sos)
        # The band-pass delays the QRS by its group delay near 10 Hz; beats are reported
        # at the true R time by subtracting it.
        self._delay = group_delay_s(sos, 10.0, fs)
        self._win = max(1, round(0.150 * fs))
        self._look = max(1, round(0.120 * fs))
        self._refractory = round(0.250 * fs)
        self._twave = round(0.360 * fs)
        keep = round(3.0 * fs) + self._win + self._look
        self._bp: deque[float] = deque(maxlen=keep)
        self._mwi: deque[float] = deque(maxlen=keep)
        self._sq_tail = np.zeros(self._win - 1)
        self._last_bp = 0.0
        self._n = 0  # samples received
        self._next = 0  # next absolute index to examine as a candidate centre
        self._spk = 0.0
        self._npk = 0.0
        self._learning = round(2.0 * fs)
        self._last_beat = -(10**9)
        self._last_slope = 0.0
        self._rr: deque[int] = deque(maxlen=8)
        self._sb_best: tuple[int, float, float] | None = None  # (index, value, slope)

    def _threshold(self) -> float:
        return self._npk + 0.25 * (self._spk - self._npk)

    def process(self, x: npt.NDArray[np.float64]) -> list[float]:
        x = np.asarray(x, dtype=np.float64)
        step = max(1, int(self.fs))  # the look-back buffers hold 3 s: feed at most 1 s at once
        out: list[float] = []
        for i in range(0, x.size, step):
            out.extend(self._process(x[i:i + step]))
        return out

    def _process(self, x: npt.NDArray[np.float64]) -> list[float]:
        bp = self._bandpass(x)
        d = np.diff(bp, prepend=self._last_bp)
        self._last_bp = float(bp[-1])
        sq = np.concatenate([self._sq_tail, d * d])
        mwi = np.convolve(sq, np.ones(self._win) / self._win, mode="valid")
        self._sq_tail = sq[len(sq) - (self._win - 1):] if self._win > 1 else np.zeros(0)
        self._bp.extend(bp.tolist())
        self._mwi.extend(mwi.tolist())
        self._n += x.size
        if self._n < self._learning:
            return []
        if self._spk == 0.0:
            arr = np.asarray(self._mwi)
            self._spk = float(arr.max()) * 0.6
            self._npk = float(np.median(arr))
        return self._scan()

    def _scan(self) -> list[float]:
        mwi = np.asarray(self._mwi)
        bp = np.asarray(self._bp)
        base = self._n - mwi.size  # absolute index of mwi[0]
        start = max(self._next, base + self._look)
        stop = self._n - self._look  # candidates need `look` samples on both sides
        if stop <= start:
            return []
        # Local maxima of the integrated signal over +-look, found vectorised; only those
        # (a few per second) go through the threshold logic below.
        peak = running_max(mwi, 2 * self._look + 1)
        lo, hi = start - base, stop - base
        cand = np.flatnonzero((mwi[lo:hi] > 0) & (mwi[lo:hi] >= peak[lo:hi])) + lo
        self._next = stop
        beats: list[float] = []
        for i in cand:
            beat = self._classify(base + int(i), float(mwi[i]), bp, base)
            if beat is not None:
                beats.append(beat)
            sb = self._searchback(base + int(i), bp, base)
            if sb is not None:
                beats.append(sb)
        return sorted(beats)

    def _slope(self, idx: int, bp: npt.NDArray[np.float64], base: int) -> float:
        i = idx - base
        seg = bp[max(0, i - self._win):i + 1]
        return float(np.abs(np.diff(seg)).max()) if seg.size > 1 else 0.0

    def _locate(self, idx: int, bp: npt.NDArray[np.float64], base: int) -> float:
        i = idx - base
        lo = max(0, i - self._win - int(0.05 * self.fs))
        seg = np.abs(bp[lo:i + 1])
        return (base + lo + int(np.argmax(seg))) / self.fs - self._delay

    def _accept(self, idx: int, v: float, slope: float, bp: npt.NDArray[np.float64],
                base: int, weight: float) -> float:
        if self._last_beat > 0:
            self._rr.append(idx - self._last_beat)
        self._last_beat = idx
        self._last_slope = slope
        self._spk = weight * v + (1 - weight) * self._spk
        self._sb_best = None
        return self._locate(idx, bp, base)

    def _classify(self, idx: int, v: float, bp: npt.NDArray[np.float64], base: int) -> float | None:
        since = idx - self._last_beat
        slope = self._slope(idx, bp, base)
        if since < self._refractory:
            return None
        if v > self._threshold():
            if since < self._twave and slope < 0.5 * self._last_slope:
                self._npk = 0.125 * v + 0.875 * self._npk
                return None
            return self._accept(idx, v, slope, bp, base, 0.125)
        self._npk = 0.125 * v + 0.875 * self._npk
        if v > 0.5 * self._threshold() and (self._sb_best is None or v > self._sb_best[1]):
            self._sb_best = (idx, v, slope)
        return None

    def _searchback(self, idx: int, bp: npt.NDArray[np.float64], base: int) -> float | None:
        if not self._rr or self._sb_best is None:
            return None
        mean_rr = float(np.mean(self._rr))
        if idx - self._last_beat <= 1.66 * mean_rr:
            return None
        cand, v, slope = self._sb_best
        if cand - base < 0 or cand - self._last_beat < self._refractory:
            self._sb_best = None
            return None
        return self._accept(cand, v, slope, bp, base, 0.25)
