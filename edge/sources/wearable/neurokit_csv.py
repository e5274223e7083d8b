"""Wearable back-end "neurokit_csv": a CSV with `ECG` (mV) and/or `EDA` (µS) columns at
a fixed rate (NeuroKit2's example data format); unreadable cells are counted in
`skipped` and interpolated."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.messages import BioKind
from edge.sources.base import SourceError
from edge.sources.wearable.replay import ReplaySettings, ReplaySource


@dataclass(frozen=True)
class NeuroKitCsvSettings(ReplaySettings):
    sample_rate: float = field(default=100.0, metadata={"min": 1.0, "max": 10000.0})
    """Sample rate of the file in Hz."""


class NeuroKitCsvSource(ReplaySource):
    name = "physio:csv"

    def _load(self) -> list[tuple[BioKind, float, npt.NDArray[np.float64]]]:
        path = self.settings.path
        if path is None:
            raise SourceError(f"{self.name}: no path")
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                header = [h.strip().lower() for h in next(reader)]
                rows = [r for r in reader if len(r) == len(header)]
        except (OSError, StopIteration, UnicodeDecodeError) as exc:
            raise SourceError(f"{path}: unreadable CSV ({exc})") from None
        assert isinstance(self.settings, NeuroKitCsvSettings)
        fs = self.settings.sample_rate
        out: list[tuple[BioKind, float, npt.NDArray[np.float64]]] = []
        for col, kind, scale in (("ecg", "ecg", 1000.0), ("eda", "eda", 1.0)):
            if col in header:
                i = header.index(col)
                vals = np.array([_num(r[i]) for r in rows], dtype=np.float64)
                bad = np.isnan(vals)
                self.skipped += int(bad.sum())
                vals[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), vals[~bad]) \
                    if (~bad).any() else 0.0
                out.append((kind, fs, vals * scale))  # type: ignore[arg-type]
        return out


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
