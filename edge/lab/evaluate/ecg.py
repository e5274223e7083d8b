"""`affectd eval ecg --record PATH [--fs 130]`: the streaming R-peak detector scored
against MIT-BIH beat annotations with the standard 150 ms matching window.

Reads WFDB records with the `wfdb` package (evaluation only, not in the daemon),
takes the lead named MLII (else the first), resamples to `--fs` when given, and
feeds the detector in 1-second chunks as a wearable would. Beside the all-beats
figures, `ec57` scores as AAMI EC57 does for QRS detection: ventricular flutter
and fibrillation episodes (rhythm annotations `(VFL`, `(VF`, `(VFIB`, and the
`[` ... `]` markers) are excluded, for the reference beats and for the detections
alike. Records with rhythm annotations also get `rhythm` (edge/lab/evaluate/rhythm.py):
the share of flutter/fibrillation seconds the daemon's rhythm check marks unreadable
and of normal-rhythm seconds it marks at all. `--csv` (edge/lab/evaluate/ecg_csv.py)
scores a wearable app's export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.physio.rpeaks import StreamingRPeakDetector

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
TOLERANCE_S = 0.150
VF_RHYTHMS = {"VF", "VFL", "VFIB"}


def vf_episodes(ann: Any, fs0: float, end_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of the record's ventricular flutter/fibrillation episodes: a
    rhythm label lasts until the next one; `[` opens and `]` closes an episode too (the
    rhythm changes as `edge.lab.evaluate.rhythm.rhythm_labels` reads them)."""
    from edge.lab.evaluate.rhythm import rhythm_labels

    episodes, start = [], None
    for t, label in rhythm_labels(ann, fs0, "N"):
        if label in VF_RHYTHMS and start is None:
            start = t
        elif label not in VF_RHYTHMS and start is not None:
            episodes.append((start, t))
            start = None
    if start is not None:
        episodes.append((start, end_s))
    return episodes


def outside(times: npt.NDArray[np.float64],
            episodes: list[tuple[float, float]]) -> npt.NDArray[np.float64]:
    keep = np.ones(times.size, dtype=bool)
    for a, b in episodes:
        keep &= ~((times >= a) & (times < b))
    return times[keep]


def scores(tp: int, fn: int, fp: int) -> dict[str, float]:
    se, ppv = tp / max(1, tp + fn), tp / max(1, tp + fp)
    return {"sensitivity": round(se, 5), "ppv": round(ppv, 5),
            "f1": round(2 * se * ppv / max(1e-9, se + ppv), 5)}


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
    # a record with rhythm annotations only (vfdb) has no beats to score detections against
    beats = np.asarray(found if truth.size else [], dtype=np.float64)
    tp, fn, fp = match(beats, truth)
    seconds = x.size / rate
    episodes = vf_episodes(ann, fs0, seconds)
    etp, efn, efp = match(outside(beats, episodes), outside(truth, episodes))
    ec57 = {**scores(etp, efn, efp), "excluded_s": round(sum(b - a for a, b in episodes), 1),
            "tp": etp, "fn": efn, "fp": efp}
    out = {"record": path.name, **scores(tp, fn, fp), "n_beats": len(truth),
           "tp": tp, "fn": fn, "fp": fp, "fs": rate, "seconds": round(seconds, 1),
           "ec57": ec57}
    if any((aux or "").startswith("(") for aux in ann.aux_note) or "[" in ann.symbol:
        from edge.lab.evaluate.rhythm import rhythm_of_record, rhythm_scores

        got = rhythm_of_record(path, rate)
        if got is not None:
            r = rhythm_scores([(path.name, *got)])
            out["rhythm"] = {k: v for k, v in r.items() if k != "records"}
    return out


def evaluate_records(paths: list[Path], fs: float | None) -> dict[str, Any]:
    rows = [evaluate_record(p, fs) for p in paths]
    tp, fn, fp = (sum(r[k] for r in rows) for k in ("tp", "fn", "fp"))
    etp, efn, efp = (sum(r["ec57"][k] for r in rows) for k in ("tp", "fn", "fp"))
    ec57 = {**scores(etp, efn, efp),
            "excluded_s": round(sum(r["ec57"]["excluded_s"] for r in rows), 1),
            "tp": etp, "fn": efn, "fp": efp}
    total = {**scores(tp, fn, fp), "n_beats": tp + fn, "fs": rows[0]["fs"] if rows else fs,
             "seconds": round(sum(r["seconds"] for r in rows), 1), "ec57": ec57}
    rhythm = [r["rhythm"] for r in rows if "rhythm" in r]
    if rhythm:
        n = {k: sum(r[k] for r in rhythm)
             for k in ("vf_s", "normal_s", "flagged_vf_s", "flagged_normal_s")}
        total["rhythm"] = {
            "flagged_vf": round(n["flagged_vf_s"] / n["vf_s"], 4) if n["vf_s"] else None,
            "false_flag_normal": round(n["flagged_normal_s"] / n["normal_s"], 4)
            if n["normal_s"] else None, **n}
    return {**total, "records": rows} if len(rows) > 1 else rows[0]


def ecg_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out: list[str] = []
    for row in r.get("records", [r]):
        e = row["ec57"]
        out.append(f"{row['record']:>6}  Se {row['sensitivity']:.4f}  PPV {row['ppv']:.4f}  "
                   f"F1 {row['f1']:.4f}  beats {row['n_beats']}  |  EC57 Se "
                   f"{e['sensitivity']:.4f}  PPV {e['ppv']:.4f}  excluded {e['excluded_s']} s")
    if "records" in r:
        e = r["ec57"]
        out.append(f" total  Se {r['sensitivity']:.4f}  PPV {r['ppv']:.4f}  F1 {r['f1']:.4f}  "
                   f"beats {r['n_beats']}  |  EC57 Se {e['sensitivity']:.4f}  "
                   f"PPV {e['ppv']:.4f}  excluded {e['excluded_s']} s")
    return out
