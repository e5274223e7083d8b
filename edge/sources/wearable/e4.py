"""Wearable back-end "e4": an Empatica E4 session folder (`EDA.csv`, `HR.csv` and, when
present, `TEMP.csv`; first row start time, second row rate) replayed in media time."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.messages import BioKind
from edge.sources.base import SourceError
from edge.sources.wearable.replay import ReplaySettings, ReplaySource, read_e4_channel

E4Settings = ReplaySettings
"""`path` is the session folder."""


class E4ReplaySource(ReplaySource):
    name = "physio:e4"

    def _load(self) -> list[tuple[BioKind, float, npt.NDArray[np.float64]]]:
        folder = self.settings.path
        if folder is None or not folder.is_dir():
            raise SourceError(f"{self.name}: {folder} is not a folder")
        out: list[tuple[BioKind, float, npt.NDArray[np.float64]]] = []
        if (folder / "EDA.csv").exists():
            _, fs, eda = read_e4_channel(folder / "EDA.csv")
            out.append(("eda", fs, eda))
        if (folder / "HR.csv").exists():
            _, fs, hr = read_e4_channel(folder / "HR.csv")
            out.append(("hr", fs, hr))
        if (folder / "TEMP.csv").exists():
            _, fs, temp = read_e4_channel(folder / "TEMP.csv")
            out.append(("temp", fs, temp))
        return out
