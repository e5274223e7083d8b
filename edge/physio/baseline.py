"""The wearer's personal baseline, persisted in the state directory.

`baseline.json` holds four numbers — median heart rate, RMSSD, skin conductance
level and SCR rate over the calibration rest, and skin temperature when a
thermometer is worn — the running counts, means and spreads of the stress model's
window features and their changes (`edge.physio.stress_model.WearerNorm`: 48 of each,
and the last window's 24 features) and a format version: no name, no device
address, no time series, nothing that identifies the wearer or lets a signal be
rebuilt. It is written atomically (temp file + rename) when a
calibration completes and, while the slow adaptive update moves it, at most every
`SAVE_EVERY_S` seconds (SD cards wear out). A missing, unreadable or implausible
file is ignored (and counted): the analyzer calibrates afresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
FORMAT = 2  # 1: the four numbers only (still read)
SAVE_EVERY_S = 300.0
RANGES = {"hr_bpm": (25.0, 220.0), "rmssd_ms": (0.5, 500.0), "scl_us": (0.0, 100.0),
          "scr_per_min": (0.0, 60.0), "temp_c": (15.0, 42.0)}


class BaselineStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors = 0
        self.norm: dict[str, Any] | None = None
        """The wearer norm read by the last successful `load` (checked by
        `WearerNorm.from_dict` where it is used), None when the file had none."""

    def load(self) -> dict[str, float] | None:
        self.norm = None
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self.errors += 1
            log.warning("ignoring unreadable %s (%s): calibrating afresh", self.path, exc)
            return None
        if not isinstance(data, dict) or data.get("format") not in (1, FORMAT):
            self.errors += 1
            return None
        out = {}
        for key, (lo, hi) in RANGES.items():
            v = data.get(key)
            if v is None:
                continue
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                self.errors += 1
                log.warning("ignoring %s: %s=%r is implausible", self.path, key, v)
                return None
            out[key] = float(v)
        norm = data.get("norm")
        self.norm = norm if out and isinstance(norm, dict) else None
        return out or None

    def save(self, baseline: dict[str, float], norm: dict[str, Any] | None = None) -> bool:
        record: dict[str, Any] = {"format": FORMAT, **{k: round(float(v), 3)
                                                       for k, v in baseline.items()
                                                       if k in RANGES}}
        if norm is not None:
            record["norm"] = norm
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(record), "utf-8")
            os.replace(tmp, self.path)
            return True
        except OSError as exc:  # a full or read-only state dir: keep it in memory
            self.errors += 1
            log.error("cannot persist the baseline: %s", exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return False
