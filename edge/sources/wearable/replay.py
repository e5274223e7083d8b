"""What the recorded-session back-ends share: whole channels loaded at open and
replayed chunk by chunk in media time (`e4.py`, `neurokit_csv.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.messages import BioKind, BioSamples, SourceItem
from edge.settings import ConfigError, PhysioSettings
from edge.sources.base import EndOfStream, Pacer, Source, SourceError


@dataclass(frozen=True)
class ReplaySettings(PhysioSettings):
    path: Path | None = None
    """The recording to replay (a folder or a file, as the back-end reads)."""
    chunk_s: float = field(default=0.5, metadata={"min": 0.05, "max": 10.0})
    """Seconds of signal per message."""
    realtime: bool = True
    """Replay at the recording's pace (False: as fast as possible)."""
    loop: bool = True
    """Start the replay again when it ends."""

    def check(self, section: str) -> None:
        if self.path is None:
            raise ConfigError(f"{section}.path", f'required for backend "{self.backend}"')
        if not self.path.exists():
            raise ConfigError(f"{section}.path", f"{self.path} does not exist")


class ReplaySource(Source[ReplaySettings]):
    """Replays whole channels loaded at open, chunk by chunk, in media time."""

    modality = "physio"

    def __init__(self, settings: ReplaySettings) -> None:
        super().__init__(settings)
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

    @property
    def item_time_s(self) -> float:
        """Media time of the last chunk's items: its end."""
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
