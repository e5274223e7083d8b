"""The analyzer interface: one modality, source items in, estimates out.

Analyzers live in their modality's home (`edge/face`, `edge/voice`, `edge/physio`)
and are chosen by modality in `edge/daemon.py` (`ANALYZERS`). Optional abilities
are protocols: `Recalibrating` (the biofeedback profile's `calibrate` command),
`ReportsSignal` (faults of the input signal), `CountsRejected` (input looked at and
turned away, such as sounds that are not speech).
"""

from __future__ import annotations

import abc
from typing import Protocol, runtime_checkable

from edge.messages import Modality, ModalityEstimate, SourceItem


class Analyzer(abc.ABC):
    """Consumes items of one modality; keeps only bounded, derived state."""

    name: str = "analyzer"
    modality: Modality = "physio"

    @abc.abstractmethod
    def process(self, item: SourceItem) -> list[ModalityEstimate]:
        """Analyze one item; return zero or more estimates."""

    def reset(self) -> None:  # noqa: B027 - optional hook, stateless analyzers keep it
        """Forget short-term state (after a source restart or a privacy pause)."""

    def model_ids(self) -> list[str]:
        """Registry ids of the models this analyzer runs (for `stats`)."""
        return []


@runtime_checkable
class Recalibrating(Protocol):
    """An analyzer that can learn its wearer's baseline anew (`calibrate/set START`)."""

    def recalibrate(self) -> None:
        """Forget the personal baseline and learn it from the coming minutes."""
        ...


@runtime_checkable
class ReportsSignal(Protocol):
    """An analyzer that can tell when its input is not a usable signal (the ECG off the
    skin, a rhythm that is no beat sequence): named in `stats` faults."""

    def signal_faults(self) -> list[str]:
        """Short lines such as "ecg: no contact"; empty while the signal is usable."""
        ...


@runtime_checkable
class CountsRejected(Protocol):
    """An analyzer that turns some of its input away on purpose (a sound the VAD passed
    that is not speech): the count goes into its stage's `rejected` in `stats`."""

    @property
    def rejected(self) -> int:
        """Items (segments) rejected so far."""
        ...
