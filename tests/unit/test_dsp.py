"""edge.dsp against scipy: the daemon's numpy-only filters, peak finder, resampler and
assignment must give what scipy gives (scipy is a test dependency, not a daemon one)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import signal
from scipy.ndimage import maximum_filter1d
from scipy.optimize import linear_sum_assignment

from edge.dsp import (
    SMALL_PEAK_MATRIX,
    Resampler,
    SosFilter,
    assign_max,
    butter_bandpass_sos,
    find_peaks_prominence,
    group_delay_s,
    running_max,
    sos_response,
)


@pytest.mark.parametrize(("fs", "lo", "hi", "order"),
                         [(130.0, 5.0, 15.0, 2), (250.0, 5.0, 15.0, 2), (1000.0, 5.0, 15.0, 2),
                          (360.0, 0.5, 40.0, 3), (4.0, 0.05, 1.0, 1)])
def test_butterworth_matches_scipy(fs: float, lo: float, hi: float, order: int) -> None:
    ours = butter_bandpass_sos(order, lo, hi, fs)
    ref = signal.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    w = np.linspace(0.001, np.pi - 0.001, 512)
    _, h_ref = signal.sosfreqz(ref, worN=w)
    np.testing.assert_allclose(sos_response(ours, w), h_ref, rtol=1e-9, atol=1e-12)
    b, a = signal.sos2tf(ref)
    gd = signal.group_delay((b, a), w=[0.5 * (lo + hi)], fs=fs)[1][0] / fs
    assert group_delay_s(ours, 0.5 * (lo + hi), fs) == pytest.approx(gd, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=12), st.integers(0, 2**31 - 1))
def test_sos_filter_matches_sosfilt_in_any_chunking(chunks: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 100, sum(chunks)) + 800  # an offset, as raw ECG has
    sos = signal.butter(2, [5.0, 15.0], btype="bandpass", fs=130.0, output="sos")
    ref, _ = signal.sosfilt(sos, x, zi=signal.sosfilt_zi(sos) * x[0])
    f = SosFilter(butter_bandpass_sos(2, 5.0, 15.0, 130.0))
    bounds = list(itertools.accumulate(chunks, initial=0))
    ours = np.concatenate([f(x[a:b]) for a, b in itertools.pairwise(bounds)])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("n", [1, 2, 73, 130, 256])
def test_sos_filter_block_operator_is_one_block_of_the_filter(n: int) -> None:
    rng = np.random.default_rng(n)
    f = SosFilter(butter_bandpass_sos(2, 5.0, 15.0, 130.0))
    f(rng.normal(0, 100, 50) + 800)  # some history: a non-trivial state
    state = f._state.copy()  # type: ignore[union-attr]
    x = rng.normal(0, 100, n)
    g = f.block_operator(n)
    assert g.shape == (n + f.order, f.order + n)
    out = g @ np.concatenate([state, x])
    np.testing.assert_allclose(out[:n], f(x), rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(out[n:], f._state, rtol=1e-9, atol=1e-7)
    with pytest.raises(ValueError, match="block of 0 samples"):
        f.block_operator(0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=200),
       st.integers(0, 20))
def test_running_max_matches_ndimage(values: list[float], half: int) -> None:
    x = np.array(values)
    np.testing.assert_array_equal(running_max(x, 2 * half + 1),
                                  maximum_filter1d(x, 2 * half + 1, mode="nearest"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=0, max_size=120), st.integers(1, 6),
       st.sampled_from([0.0, 0.5, 2.0]))
@example([9, 10, 0, 10, 0, 1, 0, 1, 0], 3, 2.0)
@example([0, 2, 0, 2, 0, 1, 0, 1, 0], 3, 0.0)
@example([0, 2, 0, 2, 0, 1, 0], 3, 0.0)
@example([0, 1, 0, 1, 0], 3, 0.0)
def test_find_peaks_matches_scipy(values: list[int], distance: int, prominence: float) -> None:
    x = np.array(values, dtype=float)  # small integers: plateaus and ties on purpose
    peaks, prom = find_peaks_prominence(x, prominence, distance)
    ref, props = signal.find_peaks(x, prominence=prominence, distance=distance)
    np.testing.assert_array_equal(peaks, ref)  # ties included
    np.testing.assert_allclose(prom, props["prominences"])


@pytest.mark.parametrize("seed", [0, 1])
def test_find_peaks_long_signal_matches_scipy(seed: int) -> None:
    """Thousands of samples and peaks: past SMALL_PEAK_MATRIX, the bases come from the
    monotonic stacks instead of the all-pairs comparison."""
    x = np.round(np.random.default_rng(seed).normal(0, 1, 6000), 1)
    peaks, prom = find_peaks_prominence(x, 0.3, 2)
    assert peaks.size * x.size > SMALL_PEAK_MATRIX
    ref, props = signal.find_peaks(x, prominence=0.3, distance=2)
    np.testing.assert_array_equal(peaks, ref)
    np.testing.assert_allclose(prom, props["prominences"])


def test_find_peaks_on_skin_conductance_like_signal() -> None:
    t = np.arange(0, 120, 0.25)
    rng = np.random.default_rng(3)
    x = 2 + 0.01 * t + rng.normal(0, 0.01, t.size)
    for onset in (10, 31, 47, 80, 101):
        x += 0.4 * np.clip(t - onset, 0, None) * np.exp(-np.clip(t - onset, 0, None) / 2.0)
    peaks, prom = find_peaks_prominence(x, 0.05, 4)
    ref, props = signal.find_peaks(x, prominence=0.05, distance=4)
    np.testing.assert_array_equal(peaks, ref)
    np.testing.assert_allclose(prom, props["prominences"])
    assert len(peaks) == 5


@pytest.mark.parametrize(("rate_in", "rate_out"),
                         [(48000, 16000), (44100, 16000), (8000, 16000), (22050, 16000)])
def test_resampler_streams_what_resample_poly_gives(rate_in: int, rate_out: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, rate_in) + 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate_in) / rate_in)
    g = np.gcd(rate_in, rate_out)
    ref = signal.resample_poly(x, rate_out // g, rate_in // g)
    r = Resampler(rate_in, rate_out)
    sizes = rng.integers(1, rate_in // 5, 40)
    bounds = np.minimum(np.concatenate([[0], np.cumsum(sizes)]), x.size)
    parts = [r(x[a:b]) for a, b in itertools.pairwise(bounds)]
    parts += [r(x[bounds[-1]:]), r.flush()]
    ours = np.concatenate(parts)
    assert ours.size == ref.size
    np.testing.assert_allclose(ours, ref, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 7), st.integers(0, 7), st.integers(0, 2**31 - 1))
def test_assignment_is_optimal(n: int, m: int, seed: int) -> None:
    s = np.random.default_rng(seed).random((n, m))
    rows, cols = assign_max(s)
    ref_r, ref_c = linear_sum_assignment(-s)
    assert len(rows) == len(ref_r) == min(n, m)
    assert s[rows, cols].sum() == pytest.approx(s[ref_r, ref_c].sum())
    assert len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
