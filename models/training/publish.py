"""The last step of the training scripts whose model is a JSON file trained here: its
manifest entry and its card.

The card is the script's own text from the measured report, followed by any
hand-written sections in `models/cards_extra/<id>.md` (as `python -m quantize cards`
does for the converted models).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.registry import ModelEntry, Registry

LICENCE = "Apache-2.0"
"""Licence of the weights trained here."""


def trained_here(model_id: str, recipe: str, verb: str = "trained") -> dict[str, Any]:
    """The entry fields every model made by one of these scripts shares: where it came
    from (`verb` by affectd), its licence, its report and the script that rebuilds it
    (`recipe`, a path under the repository, `models/training/<name>.py`)."""
    module = recipe.removesuffix(".py").replace("/", ".")
    return {"source": {"kind": "json", "origin": f"{verb} by affectd: python -m {module}"},
            "licence": LICENCE, "parity_report": f"reports/{model_id}.json", "recipe": recipe}


def publish(models: Path, entry: ModelEntry, card: Callable[[ModelEntry], str]) -> None:
    """Put `entry` (its file and report already written under `models`) into the
    manifest and write its card: `card(entry)` as stored, then the hand-written extra."""
    reg = Registry(models, create=True)
    reg.put(entry)
    reg.save()
    stored = reg.get(entry.id)
    extra = models / "cards_extra" / f"{entry.id}.md"
    (models / "cards" / f"{entry.id}.md").write_text(
        card(stored) + (extra.read_text() if extra.exists() else ""))
    print(f"wrote {models / entry.file}, its manifest entry and card", flush=True)
