"""Wearable back-end "synthetic": the built-in generated wearer (`edge.physio.synthetic`),
ECG at `ecg_rate` (130 Hz like a Polar H10) and EDA at 4 Hz, paced in real time.
It is made-up data, for demos and tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.messages import BioSamples, SourceItem
from edge.physio.synthetic import StressSchedule, SyntheticPhysio
from edge.settings import PhysioSettings
from edge.sources.base import Pacer, Source


@dataclass(frozen=True)
class SyntheticSettings(PhysioSettings):
    ecg_rate: float = field(default=130.0, metadata={"min": 50.0, "max": 2000.0})
    """ECG rate in Hz (130 = Polar H10)."""
    seed: int = 0
    """Random seed of the generated wearer."""
    chunk_s: float = field(default=0.5, metadata={"min": 0.05, "max": 10.0})
    """Seconds of signal per message."""
    realtime: bool = True
    """Generate at the wearer's pace (False: as fast as possible)."""


class SyntheticPhysioSource(Source[SyntheticSettings]):
    """ECG and EDA of a generated wearer who rests, then alternates stress and rest."""

    name = "physio:synthetic"
    modality = "physio"

    def __init__(self, settings: SyntheticSettings) -> None:
        super().__init__(settings)
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
