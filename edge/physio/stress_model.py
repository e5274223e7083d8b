"""Stress and arousal from a wearer's physiology, one 60-s window at a time.

Three parts, shared by the daemon (`edge.physio.analyzer`), the evaluation
(`affectd eval stress`) and the training script (`models.training.stress`):

- `window_features`: twenty numbers describing one window — heart rate (level in
  the last 10 s and the whole window, slope, spread, extremes, rise, jitter)
  relative to the calibration baseline, and skin conductance (SCR rate against
  the baseline, recent SCRs, their amplitude and rise time, tonic level against
  the baseline, its slope, range, rise and climb, phasic spread and peak, spread
  of the whole signal) — then four from skin temperature (level against the
  baseline, slope, spread, rise; NaN when no thermometer is worn). None of them
  reads the clock: a window is described by what happens inside it and by the
  wearer's own resting numbers.
- `WearerNorm`: the wearer's running mean and SD of those features and of their
  change since the previous window, over the windows seen so far (Welford; past
  windows only), starting from the training population's mean and variance
  counted as `PRIOR_WINDOWS` windows, so the first minutes are scored against
  people in general and later ones against this wearer. People differ far more
  from each other than stress moves them, so the model sees each window relative
  to this wearer's own history. It is 101 numbers, no time series, and persists
  with the baseline.
- `StressModel`: gradient-boosted trees (`edge.physio.trees`) over the 40
  normalised inputs of this window and of the `CONTEXT` windows before it (120
  numbers: how the last three minutes moved, not just the last one), fitted on
  the Stress-Predict sessions with their label blocks shuffled (so the schedule
  carries no information); JSON in `models/stress_physio.json`, loaded through
  the registry (sha256-checked). A second one, `models/stress_physio_temperature.json`,
  reads the temperature features too (48 inputs a window, 144 numbers); the analyzer
  uses it while a thermometer reports (an E4-style wristband). Stress is the
  probability; arousal is the same activation mapped to [-1, 1] (2 p - 1).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.physio.eda import EdaWindow
from edge.physio.trees import TreeEnsemble

F64 = npt.NDArray[np.float64]
WINDOW_S = 60.0
FEATURES = ("hr_last_rel", "hr_rel", "hr_slope", "hr_sd", "scr_delta", "scl_slope",
            "scr_amp", "scl_logrel", "phasic_sd",
            "scl_range", "scl_rise", "phasic_max", "scr_rise_s", "eda_sd", "scl_climb",
            "hr_max_rel", "hr_min_rel", "hr_rise_rel", "hr_jitter", "scr_recent")
TEMPERATURE = ("temp_rel", "temp_slope", "temp_sd", "temp_rise")
"""The features read from skin temperature: NaN when no thermometer is worn."""
ALL_FEATURES = FEATURES + TEMPERATURE
"""What `window_features` returns: the heart and skin features, then the temperature
ones. The `MODEL_ID` model reads `FEATURES`; the `TEMPERATURE_MODEL_ID` one all."""
MODEL_ID = "stress_physio"
TEMPERATURE_MODEL_ID = "stress_physio_temperature"
PRIOR_WINDOWS = 3
CONTEXT = 2
"""Earlier windows whose inputs the model also reads (lag 1, lag 2)."""


def input_names(features: tuple[str, ...]) -> tuple[str, ...]:
    """The normalised inputs of a window: each feature, then each one's change."""
    return tuple(f"z_{f}" for f in features) + tuple(f"zd_{f}" for f in features)


def model_input_names(features: tuple[str, ...]) -> tuple[str, ...]:
    """A model's input vector: this window's inputs, then those of `CONTEXT` before."""
    inputs = input_names(features)
    return inputs + tuple(f"{name}_lag{k}" for k in range(1, CONTEXT + 1) for name in inputs)


INPUTS = input_names(FEATURES)
MODEL_INPUTS = model_input_names(FEATURES)


def temperature_features(temp: F64 | None, fs: float, base: dict[str, float]) -> list[float]:
    """The `TEMPERATURE` features of one window's skin temperature (°C, `fs` Hz): its
    mean against the baseline, the least-squares slope (°C per minute), SD, and the last
    10 s minus the first 10 s. NaN without at least 20 s of it."""
    if temp is None or fs <= 0 or temp.size < 20.0 * fs:
        return [math.nan] * len(TEMPERATURE)
    t = np.arange(temp.size) / fs / 60.0
    t -= t.mean()
    n10 = max(1, int(10.0 * fs))
    mean = float(temp.mean())
    return [mean - base.get("temp_c", mean), float(t @ (temp - mean)) / float(t @ t),
            float(temp.std()), float(temp[-n10:].mean() - temp[:n10].mean())]


def window_features(hr_t: F64, hr_v: F64, t_end: float, eda: EdaWindow,
                    base: dict[str, float], temp: F64 | None = None,
                    temp_fs: float = 0.0) -> F64 | None:
    """The `ALL_FEATURES` of the window ending at `t_end` (seconds); `hr_t`, `hr_v`:
    heart-rate samples (time, bpm) inside it; `temp`: the window's skin temperature
    (°C at `temp_fs` Hz), if a thermometer is worn. None without enough heart rate.

    Heart rate, relative to the baseline: the last 10 s and the whole window, the
    least-squares slope (per minute), SD, maximum and minimum, the last 10 s minus the
    first 10 s, and the SD of successive differences (jitter). Skin conductance (µS):
    SCR rate against the baseline, tonic slope (per minute), mean SCR amplitude, log
    SCL against the baseline, SD of the phasic part; the tonic level's range, its last
    10 s minus its first 10 s, and the sum of its rises (µS); the largest phasic
    value, the SCRs' mean rise time (s), the SD of the whole signal, and the SCRs in
    the last 20 s. Then `temperature_features`."""
    if hr_v.size < 5:
        return None
    hr_base = base.get("hr_bpm") or float(np.median(hr_v))
    last = hr_v[hr_t > t_end - 10.0]
    hr_last = float(last.mean()) if last.size else float(hr_v[-1])
    first = hr_v[hr_t <= t_end - WINDOW_S + 10.0]
    hr_first = float(first.mean()) if first.size else float(hr_v[0])
    tm = (hr_t - hr_t.mean()) / 60.0
    denom = float(tm @ tm)
    slope = float(tm @ (hr_v - hr_v.mean())) / denom if denom > 0 else 0.0
    scl_base = base.get("scl_us", eda.scl_us)
    tonic, n10 = eda.tonic, max(1, int(10.0 * eda.fs))
    rises = np.diff(tonic)
    duration = tonic.size / eda.fs
    return np.array([
        hr_last / hr_base - 1.0,
        float(hr_v.mean()) / hr_base - 1.0,
        slope / hr_base,
        float(hr_v.std()) / hr_base,
        eda.scr_per_min - base.get("scr_per_min", eda.scr_per_min),
        eda.slope_us_per_min,
        float(np.mean([r.amplitude_us for r in eda.scrs])) if eda.scrs else 0.0,
        math.log(max(eda.scl_us, 0.01) / max(scl_base, 0.01)),
        float(eda.phasic.std()),
        float(tonic.max() - tonic.min()),
        float(tonic[-n10:].mean() - tonic[:n10].mean()),
        float(eda.phasic.max()),
        float(np.mean([r.rise_s for r in eda.scrs])) if eda.scrs else 0.0,
        float((tonic + eda.phasic).std()),
        float(rises[rises > 0].sum()),
        float(hr_v.max()) / hr_base - 1.0,
        float(hr_v.min()) / hr_base - 1.0,
        (hr_last - hr_first) / hr_base,
        float(np.diff(hr_v).std()) / hr_base,
        float(sum(1 for r in eda.scrs if r.peak_s >= duration - 20.0)),
        *temperature_features(temp, temp_fs, base),
    ])


class WearerNorm:
    """Running mean and SD (Welford) of the window features and of their change since
    the previous window. `inputs` normalises a window against the windows before it
    and itself; `update` then adds it. `prior`: (mean, variance) the statistics start
    from, counted as `PRIOR_WINDOWS` windows; without one, zeros until three windows
    are known. Each input keeps its own count: a missing value (NaN: no thermometer)
    stays missing and leaves its statistics as they were."""

    def __init__(self, prior: tuple[F64, F64] | None = None,
                 n_features: int = len(ALL_FEATURES)) -> None:
        if prior is None:
            self.n = np.zeros(2 * n_features)
            self.mean = np.zeros(2 * n_features)
            self.m2 = np.zeros(2 * n_features)
        else:  # NaN in the prior: nothing known of that input before the wearer's windows
            known = ~np.isnan(np.asarray(prior[0], dtype=np.float64))
            self.n = np.where(known, float(PRIOR_WINDOWS), 0.0)
            self.mean = np.where(known, prior[0], 0.0).astype(np.float64)
            self.m2 = np.where(known, np.asarray(prior[1], dtype=np.float64) * PRIOR_WINDOWS,
                               0.0)
        self.prev: F64 | None = None

    @staticmethod
    def stack(raw: F64, prev: F64 | None) -> F64:
        """A window's features followed by their change since the previous window (NaN
        where either is missing; 0 for the first window)."""
        change = raw - prev if prev is not None else np.where(np.isnan(raw), np.nan, 0.0)
        return np.concatenate([raw, change])

    def _with(self, v: F64) -> tuple[F64, F64, F64]:
        known = ~np.isnan(v)
        n = self.n + known
        d = np.where(known, v - self.mean, 0.0)
        mean = self.mean + d / np.maximum(n, 1.0)
        return n, mean, self.m2 + np.where(known, d * (v - mean), 0.0)

    def inputs(self, raw: F64) -> F64:
        v = self.stack(raw, self.prev)
        n, mean, m2 = self._with(v)
        z = (v - mean) / (np.sqrt(m2 / np.maximum(n, 1.0)) + 1e-6)
        return np.asarray(np.where(n < 3, np.where(np.isnan(v), np.nan, 0.0), z),
                          dtype=np.float64)

    def update(self, raw: F64) -> None:
        self.n, self.mean, self.m2 = self._with(self.stack(raw, self.prev))
        self.prev = raw.copy()

    def to_dict(self) -> dict[str, Any]:
        return {"n": [int(v) for v in self.n], "mean": [round(float(v), 6) for v in self.mean],
                "m2": [round(float(v), 6) for v in self.m2],
                "prev": None if self.prev is None else [_rounded(v) for v in self.prev]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WearerNorm:
        """Raises ValueError on anything malformed (the caller starts afresh)."""
        norm = cls()
        size = norm.mean.size
        mean = np.asarray(d["mean"], dtype=np.float64)
        m2 = np.asarray(d["m2"], dtype=np.float64)
        prev = None if d.get("prev") is None else np.asarray(
            [math.nan if v is None else v for v in d["prev"]], dtype=np.float64)
        n = np.asarray(d["n"], dtype=np.float64)
        n = np.full(size, float(n)) if n.ndim == 0 else n  # one count: an older file
        if (mean.shape != (size,) or m2.shape != (size,) or n.shape != (size,)
                or np.any(n < 0) or np.any(m2 < 0)
                or (prev is not None and prev.shape != (size // 2,))
                or not all(np.all(np.isfinite(a)) for a in (mean, m2, n))):
            raise ValueError("malformed wearer norm")
        norm.n, norm.mean, norm.m2, norm.prev = n, mean, m2, prev
        return norm


def _rounded(v: float) -> float | None:
    """A value for JSON: NaN (a missing input) as null."""
    return None if math.isnan(v) else round(float(v), 6)


def population_prior(sessions: list[F64]) -> tuple[F64, F64]:
    """(mean, variance) of the stacked window vectors over several wearers' windows
    (one array of raw features per wearer, windows in order)."""
    rows = [WearerNorm.stack(r, r_prev) for raws in sessions
            for r_prev, r in zip([None, *raws[:-1]], raws, strict=True)]
    a = np.array(rows)
    return np.nanmean(a, axis=0), np.nanvar(a, axis=0)


def session_inputs(raws: F64, prior: tuple[F64, F64] | None) -> F64:
    """The normalised inputs of one wearer's windows in order (rows of raw features, as
    many columns as the prior covers), as the daemon computes them."""
    norm = WearerNorm(prior, n_features=raws.shape[1])
    out = []
    for raw in raws:
        out.append(norm.inputs(raw))
        norm.update(raw)
    return np.array(out).reshape(len(raws), 2 * raws.shape[1])


def with_context(current: F64, past: list[F64]) -> F64:
    """The model's input vector: this window's inputs, then those of the `CONTEXT`
    windows before it (`past`, oldest first); missing ones repeat the oldest known
    (or the current one), so a fresh start does not look like a special state."""
    lags = []
    for k in range(1, CONTEXT + 1):
        lags.append(past[-k] if len(past) >= k else (past[0] if past else current))
    return np.concatenate([current, *lags])


def model_inputs(raws: F64, prior: tuple[F64, F64] | None) -> F64:
    """`with_context` over one wearer's windows in order, as the daemon computes them."""
    z = session_inputs(raws, prior)
    rows = [with_context(z[i], list(z[max(0, i - CONTEXT):i])) for i in range(len(z))]
    return np.array(rows).reshape(len(z), (CONTEXT + 1) * z.shape[1])


@dataclass(frozen=True)
class StressModel:
    """Boosted trees over `model_input_names(features)`, and the population prior its
    wearer norms start from (over its features and their changes)."""

    trees: TreeEnsemble
    prior_mean: F64
    prior_var: F64
    features: tuple[str, ...] = FEATURES
    """`FEATURES` (heart and skin) or `ALL_FEATURES` (with skin temperature)."""

    @property
    def prior(self) -> tuple[F64, F64]:
        return self.prior_mean, self.prior_var

    @property
    def columns(self) -> list[int]:
        """Where its features sit in `window_features`' output (`ALL_FEATURES`)."""
        return [ALL_FEATURES.index(f) for f in self.features]

    @property
    def input_columns(self) -> list[int]:
        """Where its inputs sit in a wearer norm's output over `ALL_FEATURES`."""
        return [*self.columns, *(len(ALL_FEATURES) + c for c in self.columns)]

    def full_prior(self) -> tuple[F64, F64]:
        """Its prior spread over `ALL_FEATURES` (NaN where it has none: a wearer norm
        counts those from the wearer's first windows)."""
        mean = np.full(2 * len(ALL_FEATURES), math.nan)
        var = mean.copy()
        mean[self.input_columns], var[self.input_columns] = self.prior_mean, self.prior_var
        return mean, var

    def probability(self, inputs: F64) -> float:
        logit = self.trees.logit(np.asarray(inputs, dtype=np.float64))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))

    def to_json(self, extra: dict[str, Any]) -> str:
        return json.dumps({"kind": "gradient_boosted_trees",
                           "inputs": list(model_input_names(self.features)),
                           "features": list(self.features), "window_s": WINDOW_S,
                           "context": CONTEXT,
                           "prior_mean": [round(float(v), 6) for v in self.prior_mean],
                           "prior_var": [round(float(v), 8) for v in self.prior_var],
                           "prior_windows": PRIOR_WINDOWS, **extra,
                           **self.trees.to_dict()}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StressModel:
        """Raises ValueError (or KeyError) on a file this version cannot run."""
        d = json.loads(text)
        features = tuple(d.get("features", ()))
        names = model_input_names(features)
        if features not in (FEATURES, ALL_FEATURES) or list(d.get("inputs", [])) != list(names):
            raise ValueError("the model's inputs are not the ones this version computes")
        trees = TreeEnsemble.from_dict(d)
        pm, pv = (np.asarray(d[k], dtype=np.float64) for k in ("prior_mean", "prior_var"))
        if trees.n_inputs != len(names) or any(a.shape != (2 * len(features),)
                                               for a in (pm, pv)):
            raise ValueError("the trees or the prior have the wrong number of inputs")
        return cls(trees, pm, pv, features)

    @classmethod
    def from_registry(cls, models_dir: Path | None = None,
                      model_id: str = MODEL_ID) -> StressModel:
        """A shipped model (`MODEL_ID` or `TEMPERATURE_MODEL_ID`), sha256-checked
        (`edge.registry`)."""
        from edge.registry import Registry

        path = Registry(models_dir).verify(model_id)
        return cls.from_json(path.read_text("utf-8"))
