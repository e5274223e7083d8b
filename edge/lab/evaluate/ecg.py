"""`affectd eval ecg --record PATH [--fs 130]`: the streaming R-peak detector scored
against MIT-BIH beat annotations with the standard 150 ms matching window.

Reads WFDB records with the `wfdb` package (evaluation only, not in the daemon),
takes the lead named MLII (else the first), resamples to `--fs` when given, and
feeds the detector in 1-second chunks as a wearable would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.physio.rpeaks import StreamingRPeakDetector

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
TOLERANCE_S = 0.150


def match(found: npt.NDArray[np.float64], truth: npt.NDArray[np.float64],
          tol: float = TOLERANCE_S) -> tuple[int, int, int]:
    """(true positives, false negatives, false positives), one-to-one in time order."""
    i = j = tp = 0
    while i < len(truth) and j < len(found):
        d = found[j] - truth[i]
        if abs(d) <= tol:
            tp, i, j = tp + 1, i + 1, j + 1
        elif d < 0:
            j += 1
        else:
            i += 1
    return tp, len(truth) - tp, len(found) - tp


def evaluate_record(path: Path, fs: float | None) -> dict[str, Any]:
    import wfdb
    from scipy.signal import resample_poly

    rec = wfdb.rdrecord(str(path))
    ann = wfdb.rdann(str(path), "atr")
    names = [n.upper() for n in rec.sig_name]
    lead = names.index("MLII") if "MLII" in names else 0
    x = rec.p_signal[:, lead] * 1000.0  # mV -> µV
    fs0 = float(rec.fs)
    if fs and abs(fs - fs0) > 1e-6:
        from fractions import Fraction

        frac = Fraction(fs / fs0).limit_denominator(1000)
        x = resample_poly(x, frac.numerator, frac.denominator)
    rate = fs or fs0
    det = StreamingRPeakDetector(rate)
    found: list[float] = []
    step = int(rate)
    for k in range(0, x.size, step):
        found += det.process(x[k:k + step])
    truth = np.array([s / fs0 for s, sym in zip(ann.sample, ann.symbol, strict=True)
                      if sym in BEAT_SYMBOLS])
    tp, fn, fp = match(np.asarray(found), truth)
    se, ppv = tp / max(1, tp + fn), tp / max(1, tp + fp)
    return {"record": path.name, "sensitivity": round(se, 5), "ppv": round(ppv, 5),
            "f1": round(2 * se * ppv / max(1e-9, se + ppv), 5), "n_beats": len(truth),
            "tp": tp, "fn": fn, "fp": fp, "fs": rate, "seconds": round(x.size / rate, 1)}


def evaluate_records(paths: list[Path], fs: float | None) -> dict[str, Any]:
    rows = [evaluate_record(p, fs) for p in paths]
    tp, fn, fp = (sum(r[k] for r in rows) for k in ("tp", "fn", "fp"))
    se, ppv = tp / max(1, tp + fn), tp / max(1, tp + fp)
    total = {"sensitivity": round(se, 5), "ppv": round(ppv, 5),
             "f1": round(2 * se * ppv / max(1e-9, se + ppv), 5),
             "n_beats": tp + fn, "fs": rows[0]["fs"] if rows else fs,
             "seconds": round(sum(r["seconds"] for r in rows), 1)}
    return {**total, "records": rows} if len(rows) > 1 else rows[0]


def ecg_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out: list[str] = []
    for row in r.get("records", [r]):
        out.append(f"{row['record']:>6}  Se {row['sensitivity']:.4f}  PPV {row['ppv']:.4f}  "
              f"F1 {row['f1']:.4f}  beats {row['n_beats']}")
    if "records" in r:
        out.append(f" total  Se {r['sensitivity']:.4f}  PPV {r['ppv']:.4f}  F1 {r['f1']:.4f}  "
              f"beats {r['n_beats']}")
    return out
