"""`affectd eval stress`: the streaming physiology path on Stress-Predict sessions.

Per subject, the E4 recording (EDA 4 Hz, HR 1 Hz, skin temperature 4 Hz) is cut into its contiguous
label blocks (`labels_per_second.csv`: 0 rest, 1 stress). With
`--shuffle-blocks SEED` the blocks after the first (a rest, used for the
baseline) are put in a random order, so the session's schedule carries no
information; the blocks are then streamed back to back through the daemon's
`PhysioAnalyzer` (baseline from the first minutes, which are rest) and scored in
60-s windows against the labels of the seconds they contain.

The stress model is fitted leave-one-subject-out here (`fit_model`: boosted
trees, scikit-learn at training time only) on the inputs the daemon's analyzer
computes for each window: twenty-four features that describe the window, not the
session's clock (four from skin temperature), each with its change since the previous
window, normalised against the subject's own past windows, with those of the two windows before
(`edge.physio.stress_model`). The other subjects are streamed in five block
orders of their own (`TRAIN_SEEDS`, never the evaluated one), exactly as the
shipped model (`python -m models.training.stress`) is trained on every subject.
Reported: balanced accuracy, AUC, F1, per subject; with `--orders`, for each of
several block orders (the subjects' models fitted once) and their mean and spread.
`--monotone FEATURE ...` refits with trees whose p(stress) never falls as this window's
value of those features rises (a variant the model cards compare, not the recipe).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.messages import BioSamples
from edge.physio.stress_model import (
    ALL_FEATURES,
    FEATURES,
    TEMPERATURE,
    TEMPERATURE_MODEL_ID,
    StressModel,
    model_input_names,
    model_inputs,
    population_prior,
)
from edge.physio.stress_model import WINDOW_S as MODEL_WINDOW_S
from edge.physio.trees import from_sklearn
from edge.sources.wearable.replay import read_e4_channel

F64 = npt.NDArray[np.float64]
WINDOW_S = round(MODEL_WINDOW_S)


@dataclass
class Session:
    participant: int
    eda: F64  # 4 Hz
    hr: F64  # 1 Hz
    labels: npt.NDArray[np.int64]  # per second, aligned with hr[0] / eda[0]
    temp: F64 | None = None  # °C at temp_fs Hz, aligned with eda[0]; None: not recorded
    temp_fs: float = 0.0

    def blocks(self) -> list[tuple[int, int, int]]:
        """(start s, end s, label) of the contiguous label runs."""
        y = self.labels
        cuts = np.flatnonzero(np.diff(y)) + 1
        edges = [0, *cuts.tolist(), y.size]
        return [(a, b, int(y[a])) for a, b in itertools.pairwise(edges)]


def as_ble_thermometer(temp: F64, fs: float, hz: float) -> tuple[F64, float]:
    """Skin temperature as a BLE thermometer at `hz` would send it: means of blocks of
    `fs / hz` samples, rounded to the 0.01 °C of its FLOAT (`firmware_bridge`)."""
    k = max(1, round(fs / hz))
    n = temp.size // k * k
    return np.round(temp[:n].reshape(-1, k).mean(axis=1), 2), fs / k


def load_sessions(root: Path, temperature_hz: float | None = None) -> list[Session]:
    """The Stress-Predict sessions of `root`; `temperature_hz`: skin temperature
    resampled as a BLE thermometer at that rate sends it (`as_ble_thermometer`)."""
    raw = np.genfromtxt(root / "labels_per_second.csv", delimiter=",", skip_header=1,
                        usecols=(0, 3, 4))
    raw = raw[np.all(np.isfinite(raw), axis=1)]
    out = []
    for folder in sorted((root / "Raw_data").glob("S*")):
        if not (folder / "EDA.csv").exists() or not (folder / "HR.csv").exists():
            continue
        pid = int(folder.name[1:])
        mine = raw[raw[:, 0] == pid]
        if mine.size == 0:
            continue
        t0_eda, fs_eda, eda = read_e4_channel(folder / "EDA.csv")
        t0_hr, _, hr = read_e4_channel(folder / "HR.csv")
        start = int(np.ceil(max(t0_eda, t0_hr, mine[:, 1].min())))
        end = int(min(t0_eda + eda.size / fs_eda, t0_hr + hr.size, mine[:, 1].max() + 1))
        if end - start < 600:
            continue
        by_second = dict(zip(mine[:, 1].astype(np.int64).tolist(),
                             mine[:, 2].astype(np.int64).tolist(), strict=True))
        y = np.array([by_second.get(t, -1) for t in range(start, end)])
        for i in range(1, y.size):  # a few seconds are missing: carry the last label
            if y[i] < 0:
                y[i] = y[i - 1]
        y[y < 0] = 0
        e0 = round((start - t0_eda) * fs_eda)
        h0 = round(start - t0_hr)
        n = end - start
        temp, temp_fs = None, 0.0
        if (folder / "TEMP.csv").exists():
            t0_t, temp_fs, temp = read_e4_channel(folder / "TEMP.csv")
            t0 = round((start - t0_t) * temp_fs)
            temp = temp[t0:t0 + round(temp_fs * n)] if t0 >= 0 else None
            if temp is not None and temperature_hz:
                temp, temp_fs = as_ble_thermometer(temp, temp_fs, temperature_hz)
        out.append(Session(pid, eda[e0:e0 + 4 * n], hr[h0:h0 + n], y[:n], temp, temp_fs))
    return out


def order_blocks(s: Session, seed: int | None) -> list[tuple[int, int, int]]:
    blocks = s.blocks()
    if seed is None or len(blocks) < 3:
        return blocks
    rng = np.random.default_rng([seed, s.participant])
    rest = [blocks[i] for i in rng.permutation(np.arange(1, len(blocks)))]
    return [blocks[0], *rest]


def window_features(s: Session, order: list[tuple[int, int, int]], calibration_s: float
                    ) -> tuple[F64, npt.NDArray[np.int64]]:
    """Stream the blocks in `order` through the daemon's physiology analyzer; the raw
    features it computes at the end of each 60-s window after the baseline, and the
    window's label (stress when most of its seconds are)."""
    from edge.physio.analyzer import PhysioAnalyzer

    eda = np.concatenate([s.eda[4 * a:4 * b] for a, b, _ in order])
    hr = np.concatenate([s.hr[a:b] for a, b, _ in order])
    y = np.concatenate([np.full(b - a, lab) for a, b, lab in order])
    fs = s.temp_fs
    temp = None if s.temp is None else np.concatenate(
        [s.temp[round(fs * a):round(fs * b)] for a, b, _ in order])
    an = PhysioAnalyzer(calibration_s, model=None)
    for sec in range(y.size):
        an.process(BioSamples(float(sec), "eda", 4.0, eda[4 * sec:4 * sec + 4], "e4"))
        an.process(BioSamples(float(sec), "hr", 0.0, hr[sec:sec + 1], "e4"))
        if temp is not None and temp.size >= round(fs * (sec + 1)):
            an.process(BioSamples(float(sec), "temp", fs,
                                  temp[round(fs * sec):round(fs * (sec + 1))], "e4"))
    rows, labels = [], []
    for t_end, raw in an.windows:
        end = round(t_end)
        rows.append(raw)
        labels.append(int(np.mean(y[end - WINDOW_S:end]) >= 0.5))
    return np.array(rows, dtype=np.float64).reshape(-1, len(ALL_FEATURES)), np.array(labels)


TREE_PARAMS: dict[str, Any] = {"max_depth": 3, "max_iter": 500, "learning_rate": 0.03,
                               "min_samples_leaf": 40, "class_weight": "balanced",
                               "early_stopping": False, "random_state": 0}
"""scikit-learn `HistGradientBoostingClassifier` settings of the stress model: shallow
trees, many leaves' worth of windows each, classes weighted to balance."""
TRAIN_SEEDS = (100, 101, 102, 103, 104)
"""Block orders the model is trained on; `--shuffle-blocks` evaluates other ones."""


def monotone_constraints(features: tuple[str, ...], monotone: tuple[str, ...]) -> list[int]:
    """scikit-learn's `monotonic_cst` over the model inputs of `features`: +1 on this
    window's normalised value of each feature in `monotone`, 0 elsewhere (changes, lags).
    Raises ValueError on a name not in `features`."""
    unknown = sorted(set(monotone) - set(features))
    if unknown:
        raise ValueError(f"not among the model's features: {', '.join(unknown)}")
    rising = {f"z_{f}" for f in monotone}
    return [int(name in rising) for name in model_input_names(features)]


def fit_model(raws: list[F64], labels: list[npt.NDArray[np.int64]],
              features: tuple[str, ...] = FEATURES,
              monotone: tuple[str, ...] = ()) -> StressModel:
    """The stress model from several wearers' window features (in order, `ALL_FEATURES`
    columns) and labels: population prior, each wearer's windows normalised and given
    their context as the daemon would, then the boosted trees (scikit-learn, the `train`
    extra). `features`: `FEATURES` (heart and skin) or `ALL_FEATURES` (with skin
    temperature). `monotone`: see `monotone_constraints`."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    cols = [ALL_FEATURES.index(f) for f in features]
    raws = [r[:, cols] for r in raws]
    prior = population_prior(raws)
    x = np.vstack([model_inputs(r, prior) for r in raws])
    params = {**TREE_PARAMS, **({"monotonic_cst": monotone_constraints(features, monotone)}
                                if monotone else {})}
    clf = HistGradientBoostingClassifier(**params).fit(x, np.concatenate(labels))
    return StressModel(from_sklearn(clf, x.shape[1]), *prior, features)


def probabilities(model: StressModel, x: F64) -> F64:
    """p(stress) of one wearer's windows in order (`ALL_FEATURES` columns), as the daemon
    computes them."""
    return np.array([model.probability(v) for v in model_inputs(x[:, model.columns],
                                                                 model.prior)])


def has_temperature(x: F64) -> bool:
    """Whether a wearer's windows all carry skin temperature."""
    return bool(x.size) and not np.isnan(x[:, [ALL_FEATURES.index(f) for f in TEMPERATURE]]).any()


def _auc(p: F64, y: npt.NDArray[np.int64]) -> float:
    pos, neg = p[y == 1], p[y == 0]
    if not pos.size or not neg.size:
        return float("nan")
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def balanced_accuracy(pred: npt.NDArray[np.int64], y: npt.NDArray[np.int64]) -> float:
    """Mean recall of the two classes (of those present), rounded to 4 places."""
    rec = [float(np.mean(pred[y == c] == c)) for c in (0, 1) if np.any(y == c)]
    return round(float(np.mean(rec)), 4) if rec else 0.0


def _scores(p: F64, y: npt.NDArray[np.int64]) -> dict[str, float]:
    pred = (p >= 0.5).astype(int)
    tp = int(np.sum((pred == 1) & (y == 1)))
    f1 = 2 * tp / max(1, int(pred.sum()) + int(y.sum()))
    return {"balanced_accuracy": balanced_accuracy(pred, y), "auc": round(_auc(p, y), 4),
            "f1": round(f1, 4), "n_windows": int(y.size)}


Streams = dict[tuple[int | None, int], tuple[F64, npt.NDArray[np.int64]]]


def stream_sessions(root: Path, seeds: tuple[int | None, ...], calibration_s: float = 180.0,
                    participants: Callable[[int], bool] = lambda pid: True,
                    temperature_hz: float | None = None) -> Streams:
    """(window features, labels) per (block-order seed, participant), for the
    participants accepted; the sessions are streamed in parallel, one process per core
    (each stream is independent)."""
    from concurrent.futures import ProcessPoolExecutor

    sessions = [s for s in load_sessions(root, temperature_hz)
                if participants(s.participant)]
    jobs = [(seed, s) for seed in seeds for s in sessions]
    with ProcessPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        out = pool.map(window_features, [s for _, s in jobs],
                       [order_blocks(s, seed) for seed, s in jobs],
                       [calibration_s] * len(jobs), chunksize=4)
        return {(seed, s.participant): r for (seed, s), r in zip(jobs, out, strict=True)}


def leave_one_out(streams: Streams, shuffle_seed: int | None,
                  train_seeds: tuple[int, ...] = TRAIN_SEEDS,
                  features: tuple[str, ...] = FEATURES) -> dict[str, Any]:
    """Each subject in the `shuffle_seed` order, scored by a model fitted on all the
    others in the `train_seeds` orders (the shipped recipe, without the subject), over
    `features` (`ALL_FEATURES`: the recipe that reads skin temperature too)."""
    return leave_one_out_orders(streams, (shuffle_seed,), train_seeds, features)[0]


def leave_one_out_orders(streams: Streams, shuffle_seeds: tuple[int | None, ...],
                         train_seeds: tuple[int, ...] = TRAIN_SEEDS,
                         features: tuple[str, ...] = FEATURES,
                         monotone: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`leave_one_out` for several evaluated block orders at once: a subject's model does
    not depend on the order it is scored in, so it is fitted once per subject."""
    scored: dict[int | None, tuple[list[F64], list[npt.NDArray[np.int64]], dict[str, float]]]
    scored = {seed: ([], [], {}) for seed in shuffle_seeds}
    for pid in sorted({p for (seed, p), v in streams.items() if seed in scored and v[1].size}):
        others = [v for (s, o), v in streams.items() if s in train_seeds and o != pid
                  and v[1].size]
        model = fit_model([t[0] for t in others], [t[1] for t in others], features, monotone)
        for seed, (probs, ys, per_subject) in scored.items():
            x, y = streams.get((seed, pid), (np.zeros((0, len(ALL_FEATURES))),
                                             np.zeros(0, int)))
            if not y.size:
                continue
            p = probabilities(model, x)
            probs.append(p)
            ys.append(y)
            per_subject[f"S{pid:02d}"] = _scores(p, y)["balanced_accuracy"]
    out = []
    for seed, (probs, ys, per_subject) in scored.items():
        r = _scores(np.concatenate(probs), np.concatenate(ys))
        out.append({**r, "per_subject": per_subject, "shuffle_blocks": seed,
                    "train_seeds": list(train_seeds), "features": list(features),
                    "subjects": len(per_subject)})
    return out


def evaluate_stress(root: Path, shuffle_seeds: tuple[int | None, ...] = (None,),
                    calibration_s: float = 180.0, train_seeds: tuple[int, ...] = TRAIN_SEEDS,
                    features: tuple[str, ...] = ALL_FEATURES,
                    monotone: tuple[str, ...] = ()) -> dict[str, Any]:
    """Leave-one-subject-out (`leave_one_out_orders`) over the sessions under `root`, in
    each block order of `shuffle_seeds`: one order's report, or for several their reports
    (`orders`) with the mean and spread of the balanced accuracy and the mean AUC."""
    streams = stream_sessions(root, (*shuffle_seeds, *train_seeds), calibration_s)
    runs = [{**r, "monotone": list(monotone)} for r in leave_one_out_orders(
        streams, shuffle_seeds, train_seeds, features, monotone)]
    if len(runs) == 1:
        return runs[0]
    ba = np.array([r["balanced_accuracy"] for r in runs])
    return {"subjects": runs[0]["subjects"], "features": list(features),
            "monotone": list(monotone), "orders": runs,
            "balanced_accuracy": round(float(ba.mean()), 4),
            "balanced_accuracy_sd": round(float(ba.std(ddof=1)), 4),
            "auc": round(float(np.nanmean([r["auc"] for r in runs])), 4)}


SHIPPED_ORDERS = (1, 2, 3, 4, 5)
"""Block orders the shipped model is scored in by default (`--model shipped`)."""


def evaluate_shipped(root: Path, orders: tuple[int, ...] = SHIPPED_ORDERS,
                     calibration_s: float = 180.0,
                     participants: Callable[[int], bool] = lambda pid: True,
                     model: StressModel | None = None,
                     temperature: bool = True,
                     temperature_hz: float | None = None) -> dict[str, Any]:
    """The shipped stress models (or `model`), as the daemon runs them, on every subject
    of a Stress-Predict-style folder, each streamed in every block order of `orders`: the
    scores per order, their mean and spread, and each subject's mean and range over the
    orders. A session with skin temperature is scored by the model that reads it (unless
    not `temperature`: as if no thermometer were worn), the others by the heart-and-skin
    one; `temperature_hz`: skin temperature as a BLE thermometer at that rate sends it.
    Only a folder of people the model never saw gives a generalisation figure (the
    shipped models were trained on every subject of ../shared's Stress-Predict)."""
    label = "shipped" if model is None else "given"
    model = model or StressModel.from_registry()
    warm = (StressModel.from_registry(model_id=TEMPERATURE_MODEL_ID)
            if label == "shipped" and temperature else None)
    streams = stream_sessions(root, tuple(orders), calibration_s, participants,
                              temperature_hz)
    per_order: list[dict[str, Any]] = []
    subject: dict[str, list[float]] = {}
    for seed in orders:
        probs, ys = [], []
        for (s, pid), (x, y) in sorted(streams.items(), key=lambda kv: kv[0][1]):
            if s != seed or not y.size:
                continue
            p = probabilities(warm if warm and has_temperature(x) else model, x)
            probs.append(p)
            ys.append(y)
            subject.setdefault(f"S{pid:02d}", []).append(_scores(p, y)["balanced_accuracy"])
        if probs:
            per_order.append({"shuffle_blocks": seed,
                              **_scores(np.concatenate(probs), np.concatenate(ys))})
    if not per_order:
        raise ValueError(f"{root}: no subject with labelled windows")
    bacc = np.array([o["balanced_accuracy"] for o in per_order])
    auc = np.array([o["auc"] for o in per_order])
    return {"model": label, "temperature_hz": temperature_hz,
            "subjects": len(subject), "orders": per_order,
            "balanced_accuracy": round(float(bacc.mean()), 4),
            "balanced_accuracy_sd": round(float(bacc.std(ddof=1)) if bacc.size > 1 else 0.0, 4),
            "auc": round(float(np.nanmean(auc)), 4),
            "per_subject": {k: {"mean": round(float(np.mean(v)), 4),
                                "min": round(float(np.min(v)), 4),
                                "max": round(float(np.max(v)), 4)}
                            for k, v in sorted(subject.items())},
            "per_subject_sd": round(float(np.std([np.mean(v) for v in subject.values()],
                                                 ddof=1)) if len(subject) > 1 else 0.0, 4)}


def shipped_lines(r: dict[str, Any]) -> list[str]:
    """The text form of `evaluate_shipped`'s report."""
    out = [f"shipped stress model on {r['subjects']} subjects, {len(r['orders'])} block "
           f"orders: balanced accuracy {r['balanced_accuracy']:.3f} "
           f"(sd {r['balanced_accuracy_sd']:.3f} over orders), AUC {r['auc']:.3f}; "
           f"per-subject sd {r['per_subject_sd']:.3f}"]
    out += [f"  order {o['shuffle_blocks']}: balanced accuracy {o['balanced_accuracy']:.3f}, "
            f"AUC {o['auc']:.3f}, {o['n_windows']} windows" for o in r["orders"]]
    return out


def collect(root: Path, seeds: tuple[int, ...], calibration_s: float = 180.0,
            participants: Callable[[int], bool] = lambda pid: True
            ) -> tuple[list[F64], list[npt.NDArray[np.int64]]]:
    """Window features and labels of every subject (those `participants` accepts) with
    windows, once per block order in `seeds`, as two parallel lists."""
    streams = stream_sessions(root, seeds, calibration_s, participants)
    kept = [v for v in streams.values() if v[1].size]
    return [x for x, _ in kept], [y for _, y in kept]


def stress_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    runs = r.get("orders", [r])
    out = [f"{o['subjects']} subjects, {o['n_windows']} windows, shuffle_blocks="
           f"{o['shuffle_blocks']}: balanced accuracy {o['balanced_accuracy']:.3f}, "
           f"AUC {o['auc']:.3f}, F1 {o['f1']:.3f}" for o in runs]
    if "orders" in r:
        out.append(f"{len(runs)} block orders: balanced accuracy {r['balanced_accuracy']:.3f} "
                   f"(sd {r['balanced_accuracy_sd']:.3f}), AUC {r['auc']:.3f}")
    return out
