"""`affectd eval stress --e4 DIR --wesad CSV`: does stress look the same in another
dataset? A cross-dataset check on the features the two can share.

WESAD's wrist data reaches us only as window features (`wesad_wrist_features_stride60.csv`
in ../shared: 60-s windows of 12 subjects), not as signals, so the shipped model cannot
run on it. Four of the daemon's window features have a WESAD counterpart:

| daemon (`edge.physio.stress_model`) | WESAD column |
|---|---|
| `hr_rel` (mean heart rate over the baseline) | `-z_hrv_mean_hr` (see below) |
| `scr_delta` (SCR rate against the baseline) | `z_scr_peak_count` |
| `scl_slope` (tonic slope) | `z_scl_slope` |
| `scl_logrel` (tonic level against the baseline) | `z_scl_mean` |

WESAD's `z_hrv_mean_hr` is the mean RR interval (it correlates +1 with `z_hrv_mean_rr`
in every subject), so its negative is what rises with heart rate. Both sides are
standardised per subject (median and interquartile range of the
subject's windows: the wearer's own baseline, as the daemon's norm does), then a
logistic regression is fitted on one dataset and scored on every subject of the other,
both ways; leave-one-subject-out within each dataset, on the same four features, is the
reference. Stress-Predict windows come from the daemon's own physiology path (sessions
streamed in their recorded order). Reported: balanced accuracy per test subject (mean
and SD) and the pooled AUC.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.physio.stress_model import FEATURES

F64 = npt.NDArray[np.float64]
MATCHED = {"hr_rel": ("z_hrv_mean_hr", -1.0), "scr_delta": ("z_scr_peak_count", 1.0),
           "scl_slope": ("z_scl_slope", 1.0), "scl_logrel": ("z_scl_mean", 1.0)}
Dataset = dict[str, tuple[F64, npt.NDArray[np.int64]]]


def _per_subject(x: F64) -> F64:
    med = np.median(x, axis=0)
    iqr = np.subtract(*np.percentile(x, [75, 25], axis=0))
    return np.asarray((x - med) / np.where(iqr > 1e-9, iqr, 1.0))


def read_wesad(path: Path) -> Dataset:
    """Subject -> (matched features per window, label 1 = stress)."""
    rows: dict[str, list[tuple[list[float], int]]] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            try:
                x = [sign * float(r[col]) for col, sign in MATCHED.values()]
                rows.setdefault(r["subject_id"], []).append((x, int(r["label"] == "stress")))
            except (KeyError, ValueError):
                continue  # a malformed row: skipped
    if not rows:
        raise ValueError(f"{path}: no rows with the columns {[c for c, _ in MATCHED.values()]}")
    return {s: (_per_subject(np.array([x for x, _ in v])), np.array([y for _, y in v]))
            for s, v in rows.items()}


def stress_predict(root: Path) -> Dataset:
    """Subject -> (matched features per window, label) from the daemon's physiology path."""
    from edge.lab.evaluate.stress import stream_sessions

    cols = [FEATURES.index(name) for name in MATCHED]
    return {str(pid): (_per_subject(raw[:, cols]), y.astype(np.int64))
            for (_, pid), (raw, y) in stream_sessions(root, (None,)).items() if y.size}


def _fit(data: Dataset, subjects: list[str]) -> Any:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([data[s][0] for s in subjects])
    y = np.concatenate([data[s][1] for s in subjects])
    return LogisticRegression(class_weight="balanced", max_iter=2000).fit(x, y)


def _summary(per: list[float], ps: list[F64], ys: list[npt.NDArray[np.int64]]
             ) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    y_all = np.concatenate(ys)
    auc = float(roc_auc_score(y_all, np.concatenate(ps))) if 0 < y_all.mean() < 1 else None
    return {"balanced_accuracy_mean": round(float(np.mean(per)), 4),
            "balanced_accuracy_sd": round(float(np.std(per)), 4),
            "auc_pooled": None if auc is None else round(auc, 4), "subjects": len(per)}


def _score(models: dict[str, Any], data: Dataset) -> dict[str, Any]:
    """Each subject of `data` scored by `models[subject]`: per-subject balanced accuracy
    (mean, SD) and the pooled AUC."""
    from edge.lab.evaluate.stress import balanced_accuracy

    per, ps, ys = [], [], []
    for s in sorted(data):
        x, y = data[s]
        p = models[s].predict_proba(x)[:, 1]
        per.append(balanced_accuracy((p >= 0.5).astype(np.int64), y))
        ps.append(p)
        ys.append(y)
    return _summary(per, ps, ys)


def _loso(data: Dataset) -> dict[str, Any]:
    return _score({s: _fit(data, [o for o in data if o != s]) for s in data}, data)


def cross_dataset(e4_root: Path, wesad_csv: Path) -> dict[str, Any]:
    wesad, ours = read_wesad(wesad_csv), stress_predict(e4_root)
    return {"features": {k: v[0] for k, v in MATCHED.items()},
            "stress_predict_to_wesad": _score(dict.fromkeys(wesad, _fit(ours, sorted(ours))),
                                              wesad),
            "wesad_to_stress_predict": _score(dict.fromkeys(ours, _fit(wesad, sorted(wesad))),
                                              ours),
            "within_stress_predict_loso": _loso(ours), "within_wesad_loso": _loso(wesad)}


def wesad_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out = [f"matched features: {', '.join(f'{a}~{b}' for a, b in r['features'].items())}"]
    for k in ("stress_predict_to_wesad", "wesad_to_stress_predict", "within_stress_predict_loso",
              "within_wesad_loso"):
        v = r[k]
        out.append(f"  {k}: balanced accuracy {v['balanced_accuracy_mean']:.3f} "
                   f"± {v['balanced_accuracy_sd']:.3f} over {v['subjects']} subjects, "
                   f"AUC {v['auc_pooled']}")
    return out
