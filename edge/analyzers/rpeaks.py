"""Streaming R-peak detection (Pan-Tompkins family), chunk by chunk, bounded memory.

Stages, all causal and stateful so the beats do not depend on chunk size:
band-pass 5-15 Hz (2nd-order Butterworth, `edge.dsp.SosFilter` with carried state),
derivative, squaring, 150 ms moving-window integration; a candidate is a local
maximum of the integrated signal within +-120 ms. The decisions, candidate by
candidate in time order:

- inside the 250 ms refractory period after a beat: ignored;
- above the adaptive threshold `NPK + THRESHOLD (SPK - NPK)` (SPK, NPK: running
  levels of beat and noise peaks; a peak counts at most `PEAK_CAP` x SPK, so one
  artefact cannot blind the detector) it is a beat, unless
  - it lies within 360 ms of the last beat with under half that beat's slope and
    under its energy, and does not have the opposite polarity with at least
    `ECTOPIC_AMPLITUDE` of that beat's band-passed amplitude: a T wave (a premature
    ventricular beat is wide, so slope alone would call it a T wave, but it usually
    points the other way and is large; a T wave follows the QRS's polarity), or
  - a candidate `DOMINANCE` x stronger follows within the refractory period: then
    this one was a P wave or noise and the later one is the beat;
- otherwise it is noise; when no beat has come for 1.66 mean RR, the strongest
  candidate above half the threshold since the last beat is taken (search-back).

The beat is placed at the largest absolute band-passed value in the 200 ms before
the integrated peak, so it works for either ECG polarity. Fixed latency: the
decision needs 120 ms after a candidate to see it is a local maximum and 250 ms
more to look for a stronger one; a beat is reported 0.50 s after its R wave
(median, fed sample by sample); search-back beats come later by nature.

Speed: each chunk is filtered, integrated and searched for candidates with a
dozen numpy calls; only the few candidates per second go through the Python
decisions above, on plain floats. Feed chunks of any size: the cost per chunk is
nearly constant, so larger chunks (a wearable's 0.5-1 s packets, or the daemon's
analysis block) run faster per second of signal.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.dsp import SosFilter, butter_bandpass_sos, group_delay_s, window_max

THRESHOLD = 0.1  # fraction of the way from the noise level to the beat level
PEAK_CAP = 3.0  # a peak updates SPK / NPK with at most this multiple of SPK
DOMINANCE = 3.0  # a later candidate this much stronger within the refractory wins
SEARCHBACK_RR = 1.66
ECTOPIC_AMPLITUDE = 0.4  # opposite polarity and this share of the last QRS: not a T wave


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
        self._reach = self._win + max(1, round(0.05 * fs))  # samples searched for the R
        # history kept before the first undecided sample: what its candidate test needs
        self._keep = self._look + self._reach + 2
        self._kernel = np.ones(self._win) / self._win
        self._back = np.arange(-self._win + 1, 1)  # the slope looks back one window
        self._reach_off = np.arange(-self._reach, 1)
        # |band-pass|, |derivative| and the integrated signal; zeros in front so that
        # the look-back of the first candidates stays inside the buffers
        self._pad = self._reach + self._look
        self._bp = np.zeros(self._pad)
        self._absd = np.zeros(self._pad)
        self._mwi = np.zeros(self._pad)
        self._sq_tail = np.zeros(self._win - 1)
        self._last_bp = 0.0
        self._n = 0  # samples received
        self._next = 0  # first absolute index not yet decided as a candidate centre
        self._spk = 0.0
        self._npk = 0.0
        self._learning = round(2.0 * fs)
        self._last_beat = -(10**9)
        self._last_slope = 0.0
        self._last_v = 0.0
        self._last_shape = 0.0
        self._rr: list[int] = []  # the last 8 RR intervals, samples
        # search-back candidate: (index, v, slope, R time, shape)
        self._sb: tuple[int, float, float, float, float] | None = None

    def process(self, x: npt.NDArray[np.float64]) -> list[float]:
        x = np.asarray(x, dtype=np.float64)
        if x.size == 0:
            return []
        bp = self._bandpass(x)
        d = np.empty_like(bp)
        d[0] = bp[0] - self._last_bp
        np.subtract(bp[1:], bp[:-1], out=d[1:])
        self._last_bp = float(bp[-1])
        sq = np.concatenate((self._sq_tail, d * d))
        mwi = np.convolve(sq, self._kernel, mode="valid")
        if self._win > 1:
            self._sq_tail = sq[sq.size - (self._win - 1):]
        self._bp = np.concatenate((self._bp, bp))
        self._absd = np.concatenate((self._absd, np.abs(d)))
        self._mwi = np.concatenate((self._mwi, mwi))
        self._n += x.size
        if self._spk == 0.0:
            if self._n < self._learning:
                return []
            self._spk = max(float(self._mwi.max()) * 0.6, 1e-12)
            self._npk = float(np.median(self._mwi[self._pad:]))
        beats = self._scan()
        drop = self._mwi.size - (self._n - self._next + self._keep)
        if drop > 0:
            self._bp = self._bp[drop:]
            self._absd = self._absd[drop:]
            self._mwi = self._mwi[drop:]
        return beats

    def _candidates(self, base: int) -> npt.NDArray[np.intp]:
        """Buffer indices, in order, of the local maxima of the integrated signal over
        +-look that are not decided yet."""
        mwi, look = self._mwi, self._look
        lo = max(self._next - base, look)
        hi = mwi.size - look  # a candidate needs `look` samples on both sides
        if hi <= lo:
            return np.zeros(0, dtype=np.intp)
        m = window_max(mwi[lo - look:hi + look], 2 * look + 1)  # centred on lo..hi-1
        core = mwi[lo:hi]
        return np.flatnonzero((core > 0) & (core >= m)) + lo

    def _scan(self) -> list[float]:
        base = self._n - self._mwi.size  # absolute index of the buffers' first sample
        cand = self._candidates(base)
        final = self._n - self._look - self._refractory  # decide only with the look-ahead seen
        if cand.size == 0:
            self._next = max(self._next, final)
            return []
        slope = self._absd[cand[:, None] + self._back].max(axis=1).tolist()
        seg = self._bp[cand[:, None] + self._reach_off]
        at = np.abs(seg).argmax(axis=1)
        r_time = ((cand - self._reach + at + base) / self.fs - self._delay).tolist()
        # peak-to-peak band-passed amplitude, signed by the polarity of the largest sample
        shape = (np.sign(seg[np.arange(cand.size), at]) * (seg.max(axis=1) - seg.min(axis=1))
                 ).tolist()
        idx = (cand + base).tolist()
        v = self._mwi[cand].tolist()
        beats: list[float] = []
        for k, i in enumerate(idx):
            if i >= final:
                self._next = i
                return beats
            beat = self._decide(k, idx, v, slope[k], r_time[k], shape[k])
            if beat is not None:
                beats.append(beat)
        self._next = max(idx[-1] + 1, final)
        return beats

    def _decide(self, k: int, idx: list[int], v: list[float], slope: float,
                r_time: float, shape: float) -> float | None:
        i, vk = idx[k], v[k]
        since = i - self._last_beat
        if since < self._refractory:
            return None
        thr = self._npk + THRESHOLD * (self._spk - self._npk)
        capped = min(vk, PEAK_CAP * self._spk)
        if vk > thr:
            twave = (since < self._twave and slope < 0.5 * self._last_slope
                     and vk < self._last_v
                     and not (shape * self._last_shape < 0
                              and abs(shape) >= ECTOPIC_AMPLITUDE * abs(self._last_shape)))
            ahead = k + 1
            while not twave and ahead < len(idx) and idx[ahead] - i <= self._refractory:
                twave = v[ahead] > DOMINANCE * vk
                ahead += 1
            if not twave:
                return self._accept(i, capped, slope, r_time, shape, 0.125)
            self._npk = 0.125 * capped + 0.875 * self._npk
            return self._searchback(i)
        self._npk = 0.125 * capped + 0.875 * self._npk
        if vk > 0.5 * thr and (self._sb is None or vk > self._sb[1]):
            self._sb = (i, capped, slope, r_time, shape)
        return self._searchback(i)

    def _accept(self, i: int, v: float, slope: float, r_time: float, shape: float,
                weight: float) -> float:
        if self._last_beat > 0:
            self._rr.append(i - self._last_beat)
            if len(self._rr) > 8:
                del self._rr[0]
        self._last_beat = i
        self._last_slope = slope
        self._last_v = v
        self._last_shape = shape
        self._spk = weight * v + (1 - weight) * self._spk
        self._sb = None
        return r_time

    def _searchback(self, i: int) -> float | None:
        if not self._rr:
            return None
        if i - self._last_beat <= SEARCHBACK_RR * sum(self._rr) / len(self._rr):
            return None
        if self._sb is None:  # nothing even half as strong: the levels are stale (after an
            self._spk *= 0.5  # artefact, or a smaller signal); halve them until beats come
            self._npk *= 0.5
            return None
        j, v, slope, r_time, shape = self._sb
        if j - self._last_beat < self._refractory:
            self._sb = None
            return None
        return self._accept(j, v, slope, r_time, shape, 0.25)
