"""`affectd eval stress --e4 DIR --nested`: the stress recipe's choices made inside the
training folds (nested leave-one-subject-out), scored over several block orders.

A plain leave-one-subject-out figure is honest only when nothing was chosen by looking
at it. Here every choice is made again for each held-out subject, on the other
subjects alone: `CANDIDATES` (the shipped tree settings; shallower, more regularised
trees; the shipped settings on a smaller set of robust features) are compared by
grouped cross-validation over the remaining subjects (`INNER_FOLDS` folds of whole
subjects, the models trained on the `TRAIN_SEEDS` block orders and scored on one other
order, balanced accuracy), the winner is fitted on all of them and scores the held-out
subject in each evaluated block order. Reported: balanced accuracy and AUC per order
(mean and spread), the spread over subjects, and how often each candidate won.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.lab.evaluate.stress import (
    SHIPPED_ORDERS,
    TRAIN_SEEDS,
    TREE_PARAMS,
    Streams,
    _scores,
    balanced_accuracy,
    stream_sessions,
)
from edge.physio.stress_model import (
    FEATURES,
    MODEL_INPUTS,
    StressModel,
    model_inputs,
    population_prior,
)
from edge.physio.trees import from_sklearn

F64 = npt.NDArray[np.float64]
ROBUST = ("hr_last_rel", "hr_rel", "hr_slope", "scr_delta", "scl_slope", "scl_logrel",
          "eda_sd", "scr_recent")
CANDIDATES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "shipped": (TREE_PARAMS, FEATURES),
    "shallow": ({**TREE_PARAMS, "max_depth": 2, "max_iter": 300, "min_samples_leaf": 80},
                FEATURES),
    "robust_features": (TREE_PARAMS, ROBUST),
}
"""Name -> (tree settings, the window features the trees may read)."""
INNER_FOLDS = 3
INNER_ORDER = 0
"""The block order the inner folds score in (never one the models train on)."""


def fit_candidate(raws: list[F64], labels: list[npt.NDArray[np.int64]],
                  params: dict[str, Any], features: tuple[str, ...]) -> StressModel:
    """`edge.lab.evaluate.stress.fit_model` with other settings, the trees blind to the
    features not in `features` (those inputs are held constant while fitting, so no
    tree splits on them and their values do not matter when it runs)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    raws = [r[:, :len(FEATURES)] for r in raws]  # heart and skin (`ALL_FEATURES` start so)
    prior = population_prior(raws)
    x = np.vstack([model_inputs(r, prior) for r in raws])
    names = [n.split("_", 1)[1].rsplit("_lag", 1)[0] for n in MODEL_INPUTS]
    x[:, [i for i, n in enumerate(names) if n not in features]] = 0.0
    clf = HistGradientBoostingClassifier(**params).fit(x, np.concatenate(labels))
    return StressModel(from_sklearn(clf, x.shape[1]), *prior)


def _probs(model: StressModel, x: F64) -> F64:
    return np.array([model.probability(v) for v in model_inputs(x[:, model.columns],
                                                                 model.prior)])


def _train(streams: Streams, pids: list[int]) -> tuple[list[F64], list[npt.NDArray[np.int64]]]:
    kept = [streams[(s, p)] for s in TRAIN_SEEDS for p in pids if streams[(s, p)][1].size]
    return [x for x, _ in kept], [y for _, y in kept]


def _outer(streams: Streams, pid: int, others: list[int],
           orders: tuple[int, ...]) -> dict[str, Any]:
    """Choose on `others` alone, then score `pid` in every order of `orders`."""
    folds = np.array_split(np.random.default_rng(pid).permutation(others), INNER_FOLDS)
    inner: dict[str, float] = {}
    for name, (params, feats) in CANDIDATES.items():
        scores = []
        for fold in folds:
            held = set(fold.tolist())
            model = fit_candidate(*_train(streams, [o for o in others if o not in held]),
                                  params, feats)
            for o in held:
                x, y = streams[(INNER_ORDER, o)]
                if y.size:
                    scores.append(balanced_accuracy((_probs(model, x) >= 0.5).astype(int), y))
        inner[name] = float(np.mean(scores))
    chosen = max(inner, key=lambda k: inner[k])
    print(f"S{pid:02d}: inner {', '.join(f'{k} {v:.3f}' for k, v in inner.items())}; "
          f"chosen {chosen}", file=sys.stderr, flush=True)  # progress of a long run
    model = fit_candidate(*_train(streams, others), *CANDIDATES[chosen])
    scored = {}
    for seed in orders:
        x, y = streams[(seed, pid)]
        if y.size:
            scored[seed] = (_probs(model, x), y)
    return {"chosen": chosen, "inner": inner, "scored": scored}


def evaluate_nested(root: Path, orders: tuple[int, ...] = SHIPPED_ORDERS,
                    calibration_s: float = 180.0) -> dict[str, Any]:
    streams = stream_sessions(root, (INNER_ORDER, *orders, *TRAIN_SEEDS), calibration_s)
    pids = sorted({p for (s, p), v in streams.items() if s in orders and v[1].size})
    if len(pids) < INNER_FOLDS + 1:
        raise ValueError(f"{root}: nested leave-one-subject-out needs more subjects")
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_outer, [streams] * len(pids), pids,
                                [[o for o in pids if o != p] for p in pids],
                                [orders] * len(pids)))
    per_order = []
    subject: dict[str, list[float]] = {}
    for seed in orders:
        probs, ys = [], []
        for pid, r in zip(pids, results, strict=True):
            if seed in r["scored"]:
                p, y = r["scored"][seed]
                probs.append(p)
                ys.append(y)
                subject.setdefault(f"S{pid:02d}", []).append(
                    balanced_accuracy((p >= 0.5).astype(int), y))
        per_order.append({"shuffle_blocks": seed,
                          **_scores(np.concatenate(probs), np.concatenate(ys))})
    bacc = np.array([o["balanced_accuracy"] for o in per_order])
    chosen = [r["chosen"] for r in results]
    return {"subjects": len(pids), "orders": per_order,
            "balanced_accuracy": round(float(bacc.mean()), 4),
            "balanced_accuracy_sd": round(float(bacc.std(ddof=1)) if bacc.size > 1 else 0.0,
                                          4),
            "auc": round(float(np.nanmean([o["auc"] for o in per_order])), 4),
            "per_subject_sd": round(float(np.std([np.mean(v) for v in subject.values()],
                                                 ddof=1)), 4),
            "per_subject": {k: round(float(np.mean(v)), 4) for k, v in sorted(subject.items())},
            "chosen": {k: chosen.count(k) for k in CANDIDATES},
            "candidates": {k: {"features": list(f), "params": {
                q: v for q, v in p.items() if q != "class_weight"}}
                for k, (p, f) in CANDIDATES.items()}}


def nested_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out = [f"nested leave-one-subject-out, {r['subjects']} subjects, {len(r['orders'])} "
           f"block orders: balanced accuracy {r['balanced_accuracy']:.3f} (sd "
           f"{r['balanced_accuracy_sd']:.3f} over orders), AUC {r['auc']:.3f}; per-subject "
           f"sd {r['per_subject_sd']:.3f}; chosen {r['chosen']}"]
    out += [f"  order {o['shuffle_blocks']}: balanced accuracy {o['balanced_accuracy']:.3f}, "
            f"AUC {o['auc']:.3f}" for o in r["orders"]]
    return out
