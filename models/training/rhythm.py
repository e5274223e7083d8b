"""Fit the rhythm check's logistic weights (edge/physio/rhythm.py `WEIGHTS`).

    python -m models.training.rhythm [--data DIR]

Every record of ../shared's malignant-arrhythmia (vfdb), Creighton (cudb) and
MIT-BIH arrhythmia (mitdb) folders is streamed at 130 Hz through the detector and
the monitor (`edge.lab.evaluate.rhythm`), and each one-second window gets its
reference rhythm. Windows in ventricular flutter/fibrillation are the positive
class, every other window the negative (VT, noise and asystole included, so the
check learns VF-like organisation, not "anything abnormal"); classes balanced.
Reported first: leave-one-record-out figures of the whole check (the weights fitted
without the record, the slow-rhythm rule, a median over five windows, the threshold
`UNREADABLE_P`, as the monitor runs them), then the weights fitted on all records, to
be pasted into `WEIGHTS` and `INTERCEPT`. The threshold (0.2) and the rule's
autocorrelation floor (0.3) were chosen on these leave-one-record-out figures (not
nested: too few flutter records to hold some out twice), the rule's period (0.45 s)
from the physiology (flutter and fibrillation run at 150 a minute or faster).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge.lab.data import data_root
from edge.lab.evaluate.rhythm import NORMAL, VF, rhythm_of_record
from edge.physio.rhythm import SMOOTH, UNREADABLE_P, slower_than_flutter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    root = (args.data or data_root()) / "physio"
    recs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for folder in ("vfdb", "cudb", "mitdb"):
        for hea in sorted((root / folder).glob("*.hea")):
            got = rhythm_of_record(hea.with_suffix(""))
            if got is None:
                continue
            trace, labels = got
            keep = [i for i, (_, f, _) in enumerate(trace) if f is not None]
            recs[f"{folder}/{hea.stem}"] = (np.array([trace[i][1] for i in keep]),
                                           labels[keep])
    def fit(names: list[str]) -> LogisticRegression:
        x = np.concatenate([recs[n][0][:, :-2] for n in names])  # the last two: the rule
        y = np.concatenate([np.isin(recs[n][1], list(VF)) for n in names])
        return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(x, y)

    tot, malignant = np.zeros(4), np.zeros(4)
    for name in recs:
        model = fit([n for n in recs if n != name])
        x, labels = recs[name]
        p = model.predict_proba(x[:, :-2])[:, 1]
        p[[slower_than_flutter(row) for row in x]] = 0.0
        pad = np.pad(p, (SMOOTH - 1, 0), mode="edge")  # the monitor's median of the last five
        windows = np.lib.stride_tricks.sliding_window_view(pad, SMOOTH)
        flag = np.median(windows, axis=1) > UNREADABLE_P
        vf, normal = np.isin(labels, list(VF)), np.isin(labels, list(NORMAL))
        row = np.array([(flag & vf).sum(), vf.sum(), (flag & normal).sum(), normal.sum()])
        tot += row
        if not name.startswith("mitdb/"):
            malignant += row
        print(f"{name:12} VF flagged {row[0]:>5}/{row[1]:<5} normal flagged {row[2]:>5}/{row[3]}")
    print(f"leave-one-record-out: flagged_vf {tot[0] / tot[1]:.4f}, "
          f"false_flag_normal {tot[2] / tot[3]:.4f}; malignant-arrhythmia records only "
          f"(vfdb, cudb): flagged_vf {malignant[0] / malignant[1]:.4f}, "
          f"false_flag_normal {malignant[2] / malignant[3]:.4f}")
    model = fit(list(recs))
    print("WEIGHTS =", tuple(round(float(w), 3) for w in model.coef_[0]))
    print("INTERCEPT =", round(float(model.intercept_[0]), 3))


if __name__ == "__main__":
    main()
