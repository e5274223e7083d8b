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

The levels SPK and NPK are learnt from exactly the first 2 s, so the beats are the
same however the signal is chunked (a whole record in one call included).

Speed: per chunk, the band-pass is one matrix product per block of up to
`MAX_BLOCK` samples (`SosFilter.block_operator`: state and input to output and
state, exact), the derivative, squaring and integration are written in place into
one preallocated buffer, and the candidates come from a handful of vectorised
maxima; only the few candidates per second go through the Python decisions above,
on plain floats, and their slope, R time and shape are measured only when a
decision needs them. The cost per call is nearly constant, so larger chunks (the
physiology analyzer gathers 2-s blocks) run faster per second of signal; the
analyzer's blocks add up to 2 s to the latency above.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.dsp import F64, SosFilter, butter_bandpass_sos, group_delay_s, window_max_spans

THRESHOLD = 0.1  # fraction of the way from the noise level to the beat level
PEAK_CAP = 3.0  # a peak updates SPK / NPK with at most this multiple of SPK
DOMINANCE = 3.0  # a later candidate this much stronger within the refractory wins
SEARCHBACK_RR = 1.66
ECTOPIC_AMPLITUDE = 0.4  # opposite polarity and this share of the last QRS: not a T wave
MAX_BLOCK = 160  # longest block filtered in one matrix product (longer chunks are split)
MAX_SCAN = 1024  # longest piece of a chunk buffered and searched at once (bounded memory)
_NONE = np.zeros(0, dtype=np.intp)


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
        self._spans = window_max_spans(2 * self._look + 1)
        self._learning = round(2.0 * fs)
        # One buffer, rows (`_bp`, `_d`, `_sq`, `_mwi`): band-passed signal, its first
        # difference, squared difference, integrated signal. Column c holds absolute
        # sample c + self._off; zeros in front so that the look-back of the first
        # candidates stays inside it. Written in place; the live tail moves to the front
        # when the end is reached.
        self._pad = self._reach + self._look
        self._buf = np.zeros((4, self._pad + self._learning + 3 * MAX_SCAN))
        self._bp, self._d, self._sq, self._mwi = self._buf  # views of its rows
        self._off = -self._pad
        self._end = self._pad  # first free column
        self._ops: dict[int, tuple[F64, F64, F64]] = {}  # block length -> operator, in, out
        self._state: F64 | None = None  # band-pass state
        self._n = 0  # samples received
        self._next = 0  # first absolute index not yet decided as a candidate centre
        self._spk = 0.0
        self._npk = 0.0
        self._last_beat = -(10**9)
        self._last_slope = 0.0
        self._last_v = 0.0
        self._last_shape = 0.0
        self._rr: list[int] = []  # the last 8 RR intervals, samples
        # search-back candidate: (index, v, slope, R time, shape)
        self._sb: tuple[int, float, float, float, float] | None = None
        self.shapes: list[tuple[float, float]] = []
        """(slope, shape) of each beat the last `process` call returned, in order: the
        steepest band-passed derivative before it and its signed band-passed amplitude
        (a premature ventricular beat is wide: large amplitude for its slope)."""

    def _operator(self, n: int) -> tuple[F64, F64, F64]:
        """The band-pass's block operator for n samples ([y; state after] = G @ [state;
        x]) and the input and output vectors of its product (reused). Cached per block
        length (BLE frames come in a few sizes); the cache is cleared past 16 sizes."""
        got = self._ops.get(n)
        if got is None:
            if len(self._ops) >= 16:
                self._ops.clear()
            k = self._bandpass.order
            got = self._ops[n] = (self._bandpass.block_operator(n), np.zeros(k + n),
                                  np.zeros(n + k))
        return got

    def process(self, x: npt.NDArray[np.float64]) -> list[float]:
        self.shapes = []
        x = np.asarray(x, dtype=np.float64)
        if x.size <= MAX_SCAN:
            return self._process(x) if x.size else []
        beats: list[float] = []
        for i in range(0, x.size, MAX_SCAN):  # bounded memory for any chunk size
            beats += self._process(x[i:i + MAX_SCAN])
        return beats

    def _filter(self, x: npt.NDArray[np.float64], at: int) -> None:
        """Band-pass x into buffer row 0 from column `at`, in equal blocks of at most
        MAX_BLOCK samples (the block operator's cost grows with the square of its
        length; a call's fixed cost does not)."""
        if self._state is None:  # start as if x[0] had always been there
            self._state = self._bandpass.start_state(float(x[0]))
        k = self._state.size
        size = -(-x.size // -(-x.size // MAX_BLOCK))
        for i in range(0, x.size, size):
            piece = x[i:i + size]
            n = piece.size
            g, u, out = self._ops.get(n) or self._operator(n)
            u[:k] = self._state
            u[k:] = piece
            np.dot(g, u, out=out)
            self._bp[at + i:at + i + n] = out[:n]
            self._state = out[n:]

    def _process(self, x: npt.NDArray[np.float64]) -> list[float]:
        n = x.size
        if self._end + n > self._buf.shape[1]:
            self._compact()
        e = self._end
        self._filter(x, e)
        d, sq = self._d[e:e + n], self._sq[e:e + n]
        # first difference against the previous band-passed sample (kept in the buffer)
        np.subtract(self._bp[e:e + n], self._bp[e - 1:e + n - 1], out=d)
        np.multiply(d, d, out=sq)
        # the kernel is symmetric: correlate = convolve, with a thinner numpy wrapper
        self._mwi[e:e + n] = np.correlate(self._sq[e + 1 - self._win:e + n], self._kernel,
                                          "valid")
        self._end = e + n
        self._n += n
        if self._spk == 0.0:
            if self._n < self._learning:
                return []
            # levels from exactly the first `learning` samples, however they were chunked
            first = self._mwi[:self._pad + self._learning]
            self._spk = max(float(first.max()) * 0.6, 1e-12)
            self._npk = float(np.median(first[self._pad:]))
        return self._scan()

    def _compact(self) -> None:
        """Move what is still needed (from `keep` before the first undecided sample)
        to the front of the buffer."""
        start = max(0, self._next - self._keep - self._off)
        self._buf[:, :self._end - start] = self._buf[:, start:self._end]
        self._off += start
        self._end -= start

    def _candidates(self) -> npt.NDArray[np.intp]:
        """Buffer columns, in order, of the local maxima of the integrated signal over
        +-look that are not decided yet (zero ones are dropped by `_scan`)."""
        mwi, look = self._mwi, self._look
        lo = max(self._next - self._off, look)
        hi = self._end - look  # a candidate needs `look` samples on both sides
        if hi <= lo:
            return _NONE
        m = mwi[lo - look:hi + look]  # the maximum over 2 look + 1, centred on lo..hi-1,
        for span in self._spans:  # by doubling spans (`edge.dsp.window_max`, inlined)
            m = np.maximum(m[:-span], m[span:])
        return (mwi[lo:hi] >= m).nonzero()[0] + lo

    def _measure(self, c: int) -> tuple[float, float, float]:
        """(slope, R time, shape) of the candidate at buffer column c: the steepest
        |derivative| in the window before it; the R wave, the largest |band-passed|
        sample in reach, in seconds; the band-passed peak-to-peak amplitude signed by
        that sample's polarity."""
        diff = self._d[c - self._win + 1:c + 1].tolist()
        slope = max(max(diff), -min(diff))
        seg = self._bp[c - self._reach:c + 1].tolist()
        hi, lo = max(seg), min(seg)
        # the first sample of largest magnitude, as numpy's argmax of |seg| picks it
        at = (seg.index(hi) if hi > -lo else seg.index(lo) if hi < -lo
              else min(seg.index(hi), seg.index(lo)))
        r_time = (c + self._off - self._reach + at) / self.fs - self._delay
        return slope, r_time, (hi - lo) if seg[at] >= 0 else lo - hi

    def _scan(self) -> list[float]:
        cand = self._candidates()
        final = self._n - self._look - self._refractory  # decide only with the look-ahead seen
        if cand.size == 0:
            self._next = max(self._next, final)
            return []
        cols = cand.tolist()
        v = self._mwi[cand].tolist()
        if 0.0 in v:  # a flat stretch: every sample is a "maximum" of nothing
            cols = [c for c, vc in zip(cols, v, strict=True) if vc > 0.0]
            v = [vc for vc in v if vc > 0.0]
            if not cols:
                self._next = max(self._next, final)
                return []
        off = self._off
        final_col = final - off
        beats: list[float] = []
        for k, c in enumerate(cols):
            if c >= final_col:
                self._next = c + off
                return beats
            if c + off - self._last_beat < self._refractory:
                continue  # inside the refractory period after a beat: ignored
            beat = self._decide(k, cols, v)
            if beat is not None:
                beats.append(beat)
        self._next = max(cols[-1] + 1 + off, final)
        return beats

    def _decide(self, k: int, cols: list[int], v: list[float]) -> float | None:
        """The decision on candidate k (buffer column cols[k], integrated value v[k])
        outside the refractory period; the beat's time when it is one (or when it
        makes a search-back beat due)."""
        col, vk = cols[k], v[k]
        i = col + self._off
        since = i - self._last_beat
        thr = self._npk + THRESHOLD * (self._spk - self._npk)
        capped = min(vk, PEAK_CAP * self._spk)
        if vk > thr:
            slope, r_time, shape = self._measure(col)
            twave = (since < self._twave and slope < 0.5 * self._last_slope
                     and vk < self._last_v
                     and not (shape * self._last_shape < 0
                              and abs(shape) >= ECTOPIC_AMPLITUDE * abs(self._last_shape)))
            ahead = k + 1
            while not twave and ahead < len(cols) and cols[ahead] - col <= self._refractory:
                twave = v[ahead] > DOMINANCE * vk
                ahead += 1
            if not twave:
                return self._accept(i, capped, slope, r_time, shape, 0.125)
            self._npk = 0.125 * capped + 0.875 * self._npk
            return self._searchback(i)
        self._npk = 0.125 * capped + 0.875 * self._npk
        if vk > 0.5 * thr and (self._sb is None or vk > self._sb[1]):
            self._sb = (i, capped, *self._measure(col))
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
        self.shapes.append((slope, shape))
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
