"""The few signal-processing routines the daemon runs, in numpy alone.

Why not scipy here: importing `scipy.signal` pulls in scipy's linear algebra,
optimisation, statistics and interpolation packages and costs about 75 MB of
resident memory (measured: 25 MB after `import numpy`, 102 MB after `import
scipy.signal`) — a third of the daemon's footprint, for a handful of small
filters. On a 512 MB Pi Zero 2 that matters. Each routine below is checked
against its scipy counterpart in `tests/test_dsp.py` (scipy stays a test and
evaluation dependency):

- `butter_bandpass_sos` = `scipy.signal.butter(..., btype="bandpass", output="sos")`
  (same response; analog prototype, band-pass transform, bilinear transform);
- `SosFilter` = `sosfilt` with carried state and `sosfilt_zi` start-up, computed
  per block in closed form (state-space: free response plus a convolution with
  the cascade's impulse response) so no per-sample Python loop runs;
- `group_delay_s` = `group_delay` at one frequency;
- `running_max` = `scipy.ndimage.maximum_filter1d(mode="nearest")`;
- `find_peaks_prominence` = `find_peaks(x, prominence=p, distance=d)` (peaks and
  prominences as scipy defines them);
- `Resampler` = `resample_poly` (the same Kaiser-windowed FIR) but streaming:
  chunk borders leave no seams;
- `assign_max` = `linear_sum_assignment(-score)` (Hungarian method) for the
  tracker's few faces.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


# -- Butterworth band-pass --------------------------------------------------------------
def butter_bandpass_sos(order: int, low_hz: float, high_hz: float, fs: float) -> F64:
    """Second-order sections of a digital Butterworth band-pass (as scipy's `butter`)."""
    if not 0 < low_hz < high_hz < fs / 2:
        raise ValueError("need 0 < low < high < fs/2")
    k = np.arange(order)
    proto = np.exp(1j * np.pi * (2 * k + order + 1) / (2 * order))  # left-half-plane poles
    fs2 = 2.0 * fs
    w1, w2 = (fs2 * math.tan(math.pi * f / fs) for f in (low_hz, high_hz))  # pre-warped
    bw, wo = w2 - w1, math.sqrt(w1 * w2)
    p_lp = proto * bw / 2
    root = np.sqrt(p_lp**2 - wo**2)
    poles = np.concatenate([p_lp + root, p_lp - root])
    gain = bw**order
    # bilinear transform: `order` zeros at s=0 map to z=+1, those at infinity to z=-1
    pz = (fs2 + poles) / (fs2 - poles)
    gain *= float(np.real(fs2**order / np.prod(fs2 - poles)))
    # one section per conjugate pole pair, real poles two by two; each section takes one
    # zero at +1 and one at -1
    tol = 1e-12
    upper = [p for p in pz if p.imag > tol]
    real = sorted(float(p.real) for p in pz if abs(p.imag) <= tol)
    dens = [[1.0, -2.0 * p.real, abs(p) ** 2] for p in upper]
    dens += [[1.0, -(a + b), a * b] for a, b in zip(real[::2], real[1::2], strict=True)]
    sos = np.zeros((order, 6))
    for i, den in enumerate(dens):
        sos[i] = [1.0, 0.0, -1.0, *den]
    sos[-1, :3] *= gain  # scipy puts the gain on the first section; the product is equal
    return sos


def sos_response(sos: F64, w: F64) -> npt.NDArray[np.complex128]:
    """Complex frequency response at normalised angular frequencies `w` (rad/sample)."""
    z = np.exp(-1j * np.asarray(w, dtype=np.float64))
    h = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in sos:
        h *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return h


def group_delay_s(sos: F64, f_hz: float, fs: float) -> float:
    """Group delay in seconds at `f_hz` (central difference of the unwrapped phase)."""
    w = 2 * math.pi * f_hz / fs
    dw = 1e-5
    phase = np.unwrap(np.angle(sos_response(sos, np.array([w - dw, w, w + dw]))))
    return float(-(phase[2] - phase[0]) / (2 * dw)) / fs


# -- streaming second-order sections ----------------------------------------------------
class SosFilter:
    """Causal IIR filter over chunks; output independent of how the input is chunked.

    The cascade of biquads is one linear state-space system (A, B, C, D); a block of n
    samples is computed in closed form, y = O s + h * x and s' = A^n s + R x, with O
    the free response (C A^k), h the impulse response and R the input-to-state map:
    exact, and numpy's convolution instead of a per-sample Python loop.
    """

    BLOCK = 256

    def __init__(self, sos: F64) -> None:
        a_m, b_v, c_v, d = np.zeros((0, 0)), np.zeros(0), np.zeros(0), 1.0
        for row in np.atleast_2d(sos):
            b0, b1, b2, a0, a1, a2 = (float(c) for c in row)
            b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
            sa = np.array([[-a1, 1.0], [-a2, 0.0]])  # transposed direct form II
            sb = np.array([b1 - a1 * b0, b2 - a2 * b0])
            sc = np.array([1.0, 0.0])
            n = a_m.shape[0]  # append this section after the cascade so far
            a_new = np.zeros((n + 2, n + 2))
            a_new[:n, :n] = a_m
            a_new[n:, :n] = np.outer(sb, c_v)
            a_new[n:, n:] = sa
            b_v = np.concatenate([b_v, sb * d])
            c_v = np.concatenate([b0 * c_v, sc])
            a_m, d = a_new, b0 * d
        self._zi_step = np.linalg.solve(np.eye(a_m.shape[0]) - a_m, b_v)
        powers = [np.eye(a_m.shape[0])]
        for _ in range(self.BLOCK):
            powers.append(a_m @ powers[-1])
        self._powers = np.stack(powers)  # A^k, k = 0..BLOCK
        self._free = np.einsum("j,kjl->kl", c_v, self._powers[: self.BLOCK])
        ab = self._powers[: self.BLOCK] @ b_v  # A^k B
        h = np.concatenate([[d], ab @ c_v])  # impulse response: D, C A^k B
        keep = np.flatnonzero(np.abs(h) > 1e-15 * np.abs(h).max())
        self._h = h[: keep[-1] + 1] if keep.size else h[:1]
        self._ab_rev = ab[::-1]  # row j: A^(BLOCK-1-j) B
        self._state: F64 | None = None

    @property
    def order(self) -> int:
        """Size of the state vector (two per section)."""
        return int(self._zi_step.size)

    def start_state(self, x0: float) -> F64:
        """The state of a filter that had always seen `x0` (`sosfilt_zi` * x0)."""
        return np.asarray(self._zi_step * x0, dtype=np.float64)

    def block_operator(self, n: int) -> F64:
        """The matrix G ((n + order) x (order + n)) of one block of n <= BLOCK samples:
        [y; s'] = G @ [s; x] — outputs and the state after, from the state before and
        the input. One matrix product per block, for callers that filter short blocks
        often and keep the state themselves (`edge.physio.rpeaks`)."""
        if not 1 <= n <= self.BLOCK:
            raise ValueError(f"block of {n} samples, expected 1..{self.BLOCK}")
        k = self.order
        h = np.zeros(n)
        h[:min(n, self._h.size)] = self._h[:n]
        lag = np.subtract.outer(np.arange(n), np.arange(n))  # y_i = sum_j h[i - j] x_j
        toeplitz = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0)
        g = np.zeros((n + k, k + n))
        g[:n, :k] = self._free[:n]
        g[:n, k:] = toeplitz
        g[n:, :k] = self._powers[n]
        g[n:, k:] = self._ab_rev[self.BLOCK - n:].T
        return g

    def __call__(self, x: npt.ArrayLike) -> F64:
        x = np.asarray(x, dtype=np.float64)
        if x.size == 0:
            return x
        if self._state is None:  # start as if x[0] had always been there (sosfilt_zi)
            self._state = self.start_state(float(x[0]))
        s = self._state
        n = x.size
        if n <= self.BLOCK:  # one block: no loop, no copy
            self._state = self._powers[n] @ s + x @ self._ab_rev[self.BLOCK - n:]
            return np.asarray(self._free[:n] @ s + np.convolve(x, self._h[:n])[:n])
        out = np.empty_like(x)
        for i in range(0, x.size, self.BLOCK):
            xb = x[i:i + self.BLOCK]
            n = xb.size
            # only the first n taps reach the first n outputs
            out[i:i + n] = self._free[:n] @ s + np.convolve(xb, self._h[:n])[:n]
            s = self._powers[n] @ s + xb @ self._ab_rev[self.BLOCK - n:]
        self._state = s
        return out


# -- peaks -------------------------------------------------------------------------------
def window_max_spans(size: int) -> list[int]:
    """The shifts `window_max` applies, in order, for windows of `size` samples."""
    spans, span = [], 1
    while 2 * span <= size:
        spans.append(span)
        span *= 2
    if size > span:
        spans.append(size - span)
    return spans


def window_max(x: F64, size: int) -> F64:
    """Maximum of every full window of `size` samples (len(x) - size + 1 values), by
    doubling spans: log2(size) vectorised maxima instead of a strided view."""
    m = np.asarray(x, dtype=np.float64)
    for span in window_max_spans(size):
        m = np.maximum(m[:-span], m[span:])
    return m


def running_max(x: F64, size: int) -> F64:
    """Maximum over a centred window of `size` (odd) samples; edges repeat the end values."""
    half = size // 2
    return window_max(np.pad(np.asarray(x, dtype=np.float64), (half, half), mode="edge"), size)


def _local_maxima(x: F64) -> npt.NDArray[np.intp]:
    """Indices of local maxima; a flat top counts once, at its middle (rounded down)."""
    if x.size < 3:
        return np.zeros(0, dtype=np.intp)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(x) != 0) + 1])  # runs of equal values
    ends = np.concatenate([starts[1:] - 1, [x.size - 1]])
    v = x[starts]
    top = np.zeros(v.size, dtype=bool)
    top[1:-1] = (v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])  # runs touching an end never count
    return ((starts[top] + ends[top]) // 2).astype(np.intp)


SMALL_PEAK_MATRIX = 200_000
"""Peaks x samples up to which `find_peaks_prominence` compares them all at once."""


def _higher_neighbours(xs: list[float]) -> tuple[list[int], list[int]]:
    """For every sample, the index of the nearest strictly higher one on the left (-1
    when none) and on the right (len when none): two monotonic-stack passes."""
    n = len(xs)
    left_hi = [-1] * n
    stack: list[int] = []
    for i, v in enumerate(xs):
        while stack and xs[stack[-1]] <= v:
            stack.pop()
        left_hi[i] = stack[-1] if stack else -1
        stack.append(i)
    right_hi = [n] * n
    stack = []
    for i in range(n - 1, -1, -1):
        v = xs[i]
        while stack and xs[stack[-1]] <= v:
            stack.pop()
        right_hi[i] = stack[-1] if stack else n
        stack.append(i)
    return left_hi, right_hi


def find_peaks_prominence(x: npt.ArrayLike, prominence: float,
                          distance: int = 1) -> tuple[npt.NDArray[np.intp], F64]:
    """Peaks at least `distance` apart (higher ones win) with at least `prominence`.

    The daemon calls this every second on a minute of skin conductance (240 samples),
    where a numpy call per peak cost more than plain loops over a list (same peaks and
    prominences as scipy's, tests/unit/test_dsp.py, both ways of finding the bases)."""
    x = np.asarray(x, dtype=np.float64)
    peaks = _local_maxima(x)
    if distance > 1 and peaks.size > 1:
        pos = peaks.tolist()
        keep = [True] * len(pos)
        # highest first, walking numpy's default argsort backwards exactly as scipy's
        # _select_by_peak_distance does (so equal heights resolve the same way too)
        for k in np.argsort(x[peaks])[::-1].tolist():
            if not keep[k]:
                continue
            j = k - 1
            while j >= 0 and pos[k] - pos[j] < distance:
                keep[j] = False
                j -= 1
            j = k + 1
            while j < len(pos) and pos[j] - pos[k] < distance:
                keep[j] = False
                j += 1
        peaks = peaks[np.array(keep, dtype=bool)]
    if peaks.size == 0:
        return peaks, np.zeros(0)
    # the bases: the lowest points between the peak and the nearest strictly higher sample
    # on each side; those neighbours from one peaks x samples comparison when that is
    # small (the daemon's minute of skin conductance: one numpy pass instead of a Python
    # loop per sample), else from two monotonic-stack passes (O(n)); then both minima of
    # every peak from one `minimum.reduceat`.
    n = x.size
    if peaks.size * n <= SMALL_PEAK_MATRIX:
        idx = np.arange(n)
        higher = x[None, :] > x[peaks, None]
        left_of = np.where(higher & (idx[None, :] < peaks[:, None]), idx[None, :], -1).max(axis=1)
        right_of = np.where(higher & (idx[None, :] > peaks[:, None]), idx[None, :], n).min(axis=1)
    else:
        left_hi, right_hi = _higher_neighbours(x.tolist())
        left_of = np.array([left_hi[p] for p in peaks.tolist()], dtype=np.intp)
        right_of = np.array([right_hi[p] for p in peaks.tolist()], dtype=np.intp)
    m = peaks.size
    bounds = np.empty(4 * m, dtype=np.intp)
    bounds[0::4] = left_of + 1  # left range [lo, p]
    bounds[1::4] = peaks + 1
    bounds[2::4] = peaks  # right range [p, hi)
    bounds[3::4] = right_of
    mins = np.minimum.reduceat(np.append(x, np.inf), bounds)
    prom = x[peaks] - np.maximum(mins[0::4], mins[2::4])
    keep_p = prom >= prominence
    return peaks[keep_p], prom[keep_p]


# -- resampling ---------------------------------------------------------------------------
class Resampler:
    """Streaming rational resampler with the FIR `scipy.signal.resample_poly` designs
    (Kaiser window, beta 5, half length 10 x max(up, down) input samples)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        ratio = Fraction(rate_out, rate_in)
        self.up, self.down = ratio.numerator, ratio.denominator
        half = 10 * max(self.up, self.down)
        n = np.arange(2 * half + 1) - half
        cutoff = 1.0 / max(self.up, self.down)
        self.h = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half + 1, 5.0)
        self.h *= self.up / self.h.sum()
        self._half = half
        self._hist = np.zeros(0)  # input samples still needed by future outputs
        self._t0 = 0  # absolute input index of _hist[0]
        self._next_out = 0  # absolute index of the next output sample

    def __call__(self, x: npt.ArrayLike) -> F64:
        x = np.asarray(x, dtype=np.float64)
        if self.up == self.down == 1:
            return x
        self._hist = np.concatenate([self._hist, x])
        end = self._t0 + self._hist.size  # input samples known so far
        # output m sits at upsampled index m*down; it needs inputs up to
        # (m*down + half) / up, so the last computable m is:
        last = (end * self.up - 1 - self._half) // self.down
        m = np.arange(self._next_out, last + 1)
        if m.size == 0:
            return np.zeros(0)
        centre = m * self.down  # upsampled positions
        taps = np.arange(-(self._half // self.up) - 1, self._half // self.up + 2)
        base = centre // self.up
        idx = base[:, None] + taps[None, :]  # input indices around each output
        k = centre[:, None] - idx * self.up + self._half  # filter tap of each input
        valid = (k >= 0) & (k < self.h.size) & (idx >= 0)
        rel = idx - self._t0
        vals = np.where(valid & (rel >= 0), self._hist[np.clip(rel, 0, self._hist.size - 1)], 0.0)
        y = (vals * np.where(valid, self.h[np.clip(k, 0, self.h.size - 1)], 0.0)).sum(axis=1)
        self._next_out = int(m[-1]) + 1
        drop = max(0, int((self._next_out * self.down - self._half) // self.up) - 1 - self._t0)
        self._hist = self._hist[drop:]
        self._t0 += drop
        return y

    def flush(self) -> F64:
        """The remaining outputs, as if the input ended with zeros (resample_poly's end);
        whole-signal output then equals `resample_poly(x, up, down)`."""
        total = self._t0 + self._hist.size
        n_out = -(-total * self.up // self.down)
        tail = self(np.zeros(self._half // self.up + 2))
        return tail[: max(0, n_out - (self._next_out - tail.size))]


# -- assignment --------------------------------------------------------------------------
def assign_max(score: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows and columns of a maximum-total-score one-to-one assignment (Hungarian method,
    O(n^3); n is the number of faces, at most a few dozen)."""
    s = np.asarray(score, dtype=np.float64)
    transposed = s.shape[0] > s.shape[1]
    cost = -(s.T if transposed else s)
    n, m = cost.shape
    if n == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    inf = math.inf
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    match = np.zeros(m + 1, dtype=np.intp)  # column -> row (1-based, 0 = free)
    way = np.zeros(m + 1, dtype=np.intp)
    for i in range(1, n + 1):
        match[0] = i
        j0 = 0
        minv = np.full(m + 1, inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = match[j0]
            delta, j1 = inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[match[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    cols = np.flatnonzero(match[1:]) + 0
    rows = match[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order].astype(np.intp), cols[order].astype(np.intp)


def small_median(x: F64) -> float:
    """np.median of a short array (tens of values, once a second) from one sort: the same
    value without np.median's argument handling, which costs more than the sort here."""
    s = np.sort(np.asarray(x, dtype=np.float64), axis=None)
    m = s.size // 2
    return float(s[m]) if s.size % 2 else float(0.5 * (s[m - 1] + s[m]))


def trapezoid(y: F64, x: F64) -> float:
    """The trapezoid-rule integral of y over x (numpy's `trapezoid` is numpy >= 2 only; the
    Pi lock pins numpy 1.26 for Raspberry Pi OS's picamera2, whose compiled parts are
    built against numpy 1.x)."""
    if y.size < 2:
        return 0.0
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)
