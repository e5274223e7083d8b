"""The RR agreement of `affectd eval ecg --csv`: the device's intervals laid out in time
and anchored locally to our beats. An extra or a missed beat, or a lost notification,
costs only the intervals around it; a steady heart rate does not shift the anchor by a
beat; a series of other beats does not pass."""

from __future__ import annotations

import numpy as np

from edge.lab.evaluate.ecg_csv import reproduced


def beats(n: int = 400, seed: int = 0, hr_sd_ms: float = 30.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rr = 0.8 + 0.05 * np.sin(np.arange(n) / 7) + rng.normal(0, hr_sd_ms / 1e3, n)
    return 3.0 + np.cumsum(rr)


def device(b: np.ndarray, latency_s: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The strap's view of beats `b`: intervals in 1/1024 s steps, each reported in a row
    up to `latency_s` after its beat."""
    rng = np.random.default_rng(seed)
    rr = np.round(np.diff(b) * 1024) / 1.024
    return rr, b[1:] + rng.uniform(0, latency_s, rr.size)


def test_the_same_beats_agree_entirely_whatever_the_latency() -> None:
    b = beats()
    for latency in (0.0, 0.5, 1.0):
        rr, t = device(b, latency)
        assert reproduced(b + 0.004, rr, t) == rr.size
    steady = beats(hr_sd_ms=2.0)  # a metronome: offsets one beat off pile up as high
    rr, t = device(steady, 0.9)
    assert reproduced(steady, rr, t) == rr.size


def test_a_missed_beat_costs_two_intervals_and_an_extra_one_two() -> None:
    b = beats()
    rr, t = device(b, 0.8)
    assert reproduced(np.delete(b, 200), rr, t) == rr.size - 2
    extra = np.sort(np.append(b, (b[150] + b[151]) / 2))
    assert reproduced(extra, rr, t) == rr.size - 1


def test_a_lost_notification_costs_only_its_neighbours() -> None:
    b = beats()
    rr, t = device(b, 0.8)
    keep = np.ones(rr.size, dtype=bool)
    keep[[120, 121]] = False  # two intervals never reached the phone
    got = reproduced(b, rr[keep], t[keep])
    assert got >= keep.sum() - 6, (got, keep.sum())


def test_other_beats_do_not_pass() -> None:
    rr, t = device(beats(seed=0), 0.5)
    other = beats(seed=7)
    # chance alone: an interval within 20 ms whose end falls within 60 ms of one of ours
    assert reproduced(other, rr, t) < 0.4 * rr.size
    late = beats(seed=0) + 0.035  # every beat 35 ms off: ends do not meet
    assert reproduced(late, rr, t) > 0.9 * rr.size  # the offset is found, not assumed
