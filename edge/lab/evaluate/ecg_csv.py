"""`affectd eval ecg --csv FILE`: the streaming R-peak detector on a wearable app's export.

The file has a header row with `time_s` and `ecg` columns (any others are ignored)
and, optionally, `rr`: the device's own RR intervals in milliseconds, one per row
where the device reported one (empty elsewhere), in the order it reported them.
The ECG is fed to the detector in frames of 73 samples, as a Polar H10 sends them
at 130 Hz. Reported: the beats found and, with `rr`, `rr_agreement` — the share of
the device's RR intervals that our beats reproduce within 20 ms. The device's
intervals are laid out in time from their own sums, anchored to our beats by the
most common offset between the two around each interval (a local alignment: the
rows the device reported its intervals in place them within seconds, and the
offset is re-found along the recording, so a lost notification or one extra or
missed beat costs only the intervals around it, never everything after it). An
interval counts as reproduced when our beat ends within 60 ms of where it ends and
our interval ending there is within 20 ms of it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.physio.rpeaks import StreamingRPeakDetector

F64 = npt.NDArray[np.float64]
FRAME = 73
RR_TOLERANCE_MS = 20.0


def read_export(path: Path) -> tuple[F64, F64, F64, F64]:
    """(time_s, ecg, device RR intervals in ms, the times of the rows reporting them) of a
    CSV export; ValueError when the header lacks `time_s` or `ecg`. Rows whose numbers do
    not parse are skipped."""
    t: list[float] = []
    x: list[float] = []
    rr: list[float] = []
    rr_t: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = {f.strip() for f in reader.fieldnames or []}
        if not {"time_s", "ecg"} <= fields:
            raise ValueError(f"{path}: needs columns time_s and ecg (has {sorted(fields)})")
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            try:
                ti, xi = float(row["time_s"]), float(row["ecg"])
            except ValueError:
                continue
            t.append(ti)
            x.append(xi)
            if row.get("rr"):
                try:
                    rr.append(float(row["rr"]))
                except ValueError:
                    continue
                rr_t.append(ti)
    return np.array(t), np.array(x), np.array(rr), np.array(rr_t)


def _local_offset(ours_s: F64, dev_end: F64, dev_t: F64, k: int, half: int,
                  bin_s: float = 0.02) -> float | None:
    """The offset (our time minus the device's own time) most common among device beats
    k-half..k+half: for each, our beats from 3 s before to 1.5 s after the row that
    reported it; their differences pile up at the true offset."""
    lo, hi = max(0, k - half), min(dev_end.size, k + half + 1)
    diffs = []
    for q in range(lo, hi):
        a, b = np.searchsorted(ours_s, [dev_t[q] - 3.0, dev_t[q] + 1.5])
        diffs.append(ours_s[a:b] - dev_end[q])
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    if d.size == 0:
        return None
    bins = np.round(d / bin_s)
    values, counts = np.unique(bins, return_counts=True)
    # With a steady heart rate the offsets one beat off pile up almost as high: among the
    # tallest piles, take the one that has the device report each beat soonest after it
    # happened (never before it).
    lag = np.median(dev_t[lo:hi] - dev_end[lo:hi])
    tall = values[counts >= counts.max() - 1] * bin_s
    after = tall[lag - tall >= -0.1]
    centre = float(after[np.argmin(lag - after)]) if after.size else float(tall[0])
    return float(np.median(d[np.abs(d - centre) <= 1.5 * bin_s]))


def reproduced(ours_s: F64, dev_ms: F64, dev_t: F64, tol_ms: float = RR_TOLERANCE_MS,
               end_tol_s: float = 0.06, half: int = 5) -> int:
    """How many device intervals our beats reproduce (see the module docstring)."""
    if ours_s.size < 2 or dev_ms.size == 0:
        return 0
    dev_end = np.cumsum(dev_ms) / 1e3  # the device's own beat times, from its intervals
    matched = 0
    for k, d in enumerate(dev_ms):
        c = _local_offset(ours_s, dev_end, dev_t, k, half)
        if c is None:
            continue
        e = dev_end[k] + c
        i = int(np.clip(np.searchsorted(ours_s, e), 1, ours_s.size - 1))
        i = i if abs(ours_s[i] - e) <= abs(ours_s[i - 1] - e) or i == 1 else i - 1
        if i >= 1 and abs(ours_s[i] - e) <= end_tol_s and \
                abs((ours_s[i] - ours_s[i - 1]) * 1e3 - d) <= tol_ms:
            matched += 1
    return matched


def evaluate_csv(path: Path) -> dict[str, Any]:
    t, x, device_rr, device_t = read_export(path)
    if t.size < 2 * FRAME:
        raise ValueError(f"{path}: fewer than {2 * FRAME} ECG samples")
    fs = float(1.0 / np.median(np.diff(t)))
    det = StreamingRPeakDetector(fs)
    beats: list[float] = []
    for k in range(0, x.size, FRAME):
        beats += det.process(x[k:k + FRAME])
    ours = np.asarray(beats, dtype=np.float64) + t[0]
    out: dict[str, Any] = {"file": path.name, "fs": round(fs, 3),
                           "seconds": round(float(t[-1] - t[0]), 1), "beats": len(beats)}
    if device_rr.size:
        matched = reproduced(ours, device_rr, device_t)
        out.update({"device_rr": int(device_rr.size), "rr_matched": matched,
                    "rr_agreement": round(matched / device_rr.size, 5),
                    "rr_tolerance_ms": RR_TOLERANCE_MS})
    return out


def csv_lines(r: dict[str, Any]) -> list[str]:
    line = f"{r['file']}: {r['beats']} beats in {r['seconds']} s at {r['fs']} Hz"
    if "rr_agreement" in r:
        line += (f"; {r['rr_matched']} of the device's {r['device_rr']} RR intervals within "
                 f"{r['rr_tolerance_ms']:g} ms (rr_agreement {r['rr_agreement']:.4f})")
    return [line]
