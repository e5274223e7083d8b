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
be pasted into `WEIGHTS` and `INTERCEPT`. The model reads `MODEL_INPUTS` (the eight
waveform and beat features and four of their products, which took the malignant
records' normal seconds flagged from 0.096 to 0.044 at the same threshold; chosen on
these leave-one-record-out figures too). The threshold (0.2) and the rule's
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
from edge.physio.rhythm import SMOOTH, UNREADABLE_P, model_inputs, slower_than_flutter


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
    def fit(names: list[str]) -> tuple[np.ndarray, float]:
        """Weights over MODEL_INPUTS and intercept, the inputs standardised for the fit
        (so the L2 penalty weighs them alike) and the scaling folded back in."""
        x = np.concatenate([model_inputs(recs[n][0]) for n in names])
        y = np.concatenate([np.isin(recs[n][1], list(VF)) for n in names])
        mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
        m = LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000).fit(
            (x - mu) / sd, y)
        w = m.coef_[0] / sd
        return w, float(m.intercept_[0] - np.dot(w, mu))

    tot, malignant = np.zeros(4), np.zeros(4)
    for name in recs:
        w, b = fit([n for n in recs if n != name])
        x, labels = recs[name]
        p = 1.0 / (1.0 + np.exp(-np.clip(model_inputs(x) @ w + b, -50.0, 50.0)))
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
    w, b = fit(list(recs))
    print("WEIGHTS =", tuple(round(float(v), 4) for v in w))
    print("INTERCEPT =", round(b, 4))


if __name__ == "__main__":
    main()
