"""Biosignal sources: the built-in synthetic wearable and file replays.

- `SyntheticPhysioSource`: ECG at `ecg_rate` (130 Hz like a Polar H10) and EDA
  at 4 Hz from `edge.synthetic`, paced in real time.
- `E4ReplaySource`: an Empatica E4 folder (`EDA.csv`, `HR.csv`, `IBI.csv`;
  first row start time, second row rate).
- `NeuroKitCsvSource`: a CSV with `ECG` and/or `EDA` columns at a fixed rate.

BLE wearables come through `firmware_bridge` with the same message types.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.messages import BioKind, BioSamples, SourceItem
from edge.settings import PhysioSettings
from edge.sources.base import EndOfStream, Pacer, Source, SourceError
from edge.synthetic import StressSchedule, SyntheticPhysio


class SyntheticPhysioSource(Source):
    name = "physio:synthetic"
    modality = "physio"

    def __init__(self, settings: PhysioSettings) -> None:
        super().__init__()
        self.settings = settings
        # The synthetic wearer rests through calibration, then alternates two-minute stress
        # and rest blocks (minutes, like the tasks the stress model learnt from: it reads
        # 60-s windows and the two before them, so it cannot follow faster blocks).
        schedule = StressSchedule(rest_s=settings.calibration_s + 10.0, block_s=120.0)
        self._gen = SyntheticPhysio(ecg_fs=settings.ecg_rate, seed=settings.seed,
                                    schedule=schedule)
        self._t = 0.0
        self._pacer = Pacer(settings.realtime, self.stop_event)

    def open(self) -> None:
        self._pacer.restart()
        self._pacer._t0 -= self._t  # continue the same session after a restart

    def read(self) -> list[SourceItem]:
        chunk = self.settings.chunk_s
        n_ecg = round(chunk * self._gen.ecg_fs)
        n_eda = max(1, round(chunk * self._gen.eda_fs))
        ecg = self._gen.ecg(self._t, n_ecg)
        eda = self._gen.eda(self._t, n_eda)
        self._t += chunk
        now = self._pacer.wait(self._t)
        return [BioSamples(now, "ecg", self._gen.ecg_fs, ecg, "synthetic"),
                BioSamples(now, "eda", self._gen.eda_fs, eda, "synthetic")]

    def close(self) -> None:
        pass


class _ReplaySource(Source):
    """Replays whole channels loaded at open, chunk by chunk, in media time."""

    modality = "physio"

    def __init__(self, settings: PhysioSettings) -> None:
        super().__init__()
        self.settings = settings
        self._channels: list[tuple[BioKind, float, npt.NDArray[np.float64]]] = []
        self._t = 0.0
        self._pacer = Pacer(settings.realtime, self.stop_event)

    def _load(self) -> list[tuple[BioKind, float, npt.NDArray[np.float64]]]:
        raise NotImplementedError

    def open(self) -> None:
        self._channels = self._load()
        if not self._channels:
            raise SourceError(f"{self.name}: no usable channel in {self.settings.path}")
        self._t = 0.0
        self._pacer.restart()

    @property
    def position_s(self) -> float:
        """Media time replayed so far (end of the last chunk read)."""
        return self._t

    def _duration(self) -> float:
        return max(len(v) / fs for _, fs, v in self._channels)

    def read(self) -> list[SourceItem]:
        if self._t >= self._duration():
            if not self.settings.loop:
                raise EndOfStream
            self._t = 0.0
            self._pacer.restart()
        t0, t1 = self._t, self._t + self.settings.chunk_s
        self._t = t1
        now = self._pacer.wait(t1)
        out: list[SourceItem] = []
        for kind, fs, values in self._channels:
            part = values[round(t0 * fs):round(t1 * fs)]
            if part.size:
                out.append(BioSamples(now, kind, fs, part, self.name))
        return out

    def close(self) -> None:
        self._channels = []


def read_e4_channel(path: Path) -> tuple[float, float, npt.NDArray[np.float64]]:
    """Read an E4 CSV: (start unix time, rate Hz, first column); raises SourceError."""
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: unreadable E4 file ({exc})") from None
    if rows.shape[0] < 3:
        raise SourceError(f"{path}: E4 file has no samples")
    return float(rows[0, 0]), float(rows[1, 0]), rows[2:, 0]


class E4ReplaySource(_ReplaySource):
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
        return out


class NeuroKitCsvSource(_ReplaySource):
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


def open_physio_source(settings: PhysioSettings) -> Source:
    if settings.source == "ble":
        from edge.sources.wearables import BleWearableSource

        return BleWearableSource(settings)
    if settings.source == "synthetic":
        return SyntheticPhysioSource(settings)
    if settings.source == "e4":
        return E4ReplaySource(settings)
    return NeuroKitCsvSource(settings)
