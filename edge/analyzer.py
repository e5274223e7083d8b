"""The analyzer interface: one modality, source items in, estimates out."""

from __future__ import annotations

import abc

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
