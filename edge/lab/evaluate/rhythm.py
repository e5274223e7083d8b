"""The rhythm check (edge/physio/rhythm.py) on records with rhythm annotations.

`rhythm_of_record` streams a WFDB record (resampled to the wearable's rate) through
the R-peak detector and the `RhythmMonitor` in 73-sample frames, as a Polar H10
sends them, and labels each of the monitor's one-second windows with the
reference rhythm at its end: a rhythm label (`(N`, `(VFL`, ...) lasts until the
next; `[` and `]` open and close flutter/fibrillation. `rhythm_scores` gives
what `affectd eval ecg` reports as `rhythm`: `flagged_vf`, the share of VF/VFL
seconds marked unreadable, and `false_flag_normal`, the share of normal-rhythm
seconds marked (unreadable or no contact).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edge.physio.rhythm import RhythmMonitor
from edge.physio.rpeaks import StreamingRPeakDetector

VF = {"VF", "VFL", "VFIB"}
NORMAL = {"N", "NSR"}
FRAME = 73


def rhythm_labels(ann: Any, fs0: float, default: str) -> list[tuple[float, str]]:
    """(time s, rhythm) changes of an annotation, in time order."""
    out = []
    for sample, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note, strict=True):
        t = sample / fs0
        if aux and aux.startswith("("):
            out.append((t, aux.strip("(\x00 ")))
        elif sym == "[":
            out.append((t, "VF"))
        elif sym == "]":
            out.append((t, default))
    return sorted(out)


def rhythm_of_record(path: Path, fs: float = 130.0) -> tuple[list[Any], np.ndarray] | None:
    """(monitor trace, reference label per window), None for a record without rhythm
    annotations. Records of the MIT-BIH arrhythmia database count as normal rhythm
    where they say nothing."""
    import wfdb
    from scipy.signal import resample_poly

    rec, ann = wfdb.rdrecord(str(path)), wfdb.rdann(str(path), "atr")
    default = "N" if any(s in "NLR" for s in ann.symbol[:50]) else "?"
    changes = rhythm_labels(ann, float(rec.fs), default)
    if not changes and default == "?":
        return None
    names = [n.upper() for n in rec.sig_name]
    x = np.nan_to_num(rec.p_signal[:, names.index("MLII") if "MLII" in names else 0]) * 1e3
    frac = Fraction(fs / float(rec.fs)).limit_denominator(1000)
    x = resample_poly(x, frac.numerator, frac.denominator)
    det, mon = StreamingRPeakDetector(fs), RhythmMonitor(fs)
    mon.trace = []
    beats: list[float] = []
    for k in range(0, x.size, FRAME):
        chunk = x[k:k + FRAME]
        beats += det.process(chunk)
        mon.process(chunk, beats[-40:])
    times = [t for t, _ in changes]
    labels = np.array([changes[i - 1][1] if (i := int(np.searchsorted(times, t - 0.5))) > 0
                       else default for t, _, _ in mon.trace], dtype=object)
    return mon.trace, labels


def rhythm_scores(rows: list[tuple[str, list[Any], np.ndarray]]) -> dict[str, Any]:
    """flagged_vf and false_flag_normal, over all records and per record."""
    def shares(trace: list[Any], labels: np.ndarray) -> dict[str, Any]:
        state = np.array([s for _, _, s in trace], dtype=object)
        vf, normal = np.isin(labels, list(VF)), np.isin(labels, list(NORMAL))
        return {"vf_s": int(vf.sum()), "normal_s": int(normal.sum()),
                "flagged_vf_s": int((vf & (state == "unreadable")).sum()),
                "flagged_normal_s": int((normal & (state != "ok")).sum())}

    per = {name: shares(trace, labels) for name, trace, labels in rows}
    tot = {k: sum(r[k] for r in per.values()) for k in next(iter(per.values()))} if per else {}

    def ratios(r: dict[str, Any]) -> dict[str, Any]:
        return {"flagged_vf": round(r["flagged_vf_s"] / r["vf_s"], 4) if r["vf_s"] else None,
                "false_flag_normal": round(r["flagged_normal_s"] / r["normal_s"], 4)
                if r["normal_s"] else None, **r}

    return {**ratios(tot), "records": {n: ratios(r) for n, r in per.items()}} if per else {}
