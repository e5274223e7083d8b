"""The training scripts' last step (`models.training.publish`): re-publishing every
committed model trained here from its committed report gives back the committed manifest
and card byte for byte, so the cards say what their generators and reports say."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest

from edge.registry import Registry, default_models_dir
from models.training.publish import publish, trained_here

TRAINED_HERE = {"action_units": ("action_units", "fitted"),
                "speech_gate": ("speech_gate", "trained"),
                "speech_prosody": ("speech_prosody", "trained"),
                "stress_physio": ("stress", "trained"),
                "stress_physio_temperature": ("stress", "trained")}
"""Model id: the training script that writes it, and its verb."""


def test_every_json_model_is_one_the_scripts_publish() -> None:
    json_models = {mid for mid, e in Registry().entries.items() if e.source["kind"] == "json"}
    assert json_models == set(TRAINED_HERE)


@pytest.mark.parametrize("model_id", sorted(TRAINED_HERE))
def test_republishing_gives_the_committed_entry_and_card(model_id: str, tmp_path: Path) -> None:
    shipped = default_models_dir()
    models = tmp_path / "models"
    for part in ("cards", "cards_extra", "reports"):
        shutil.copytree(shipped / part, models / part)
    shutil.copy(shipped / "manifest.json", models / "manifest.json")
    entry = Registry(models).get(model_id)
    script, verb = TRAINED_HERE[model_id]
    for key, value in trained_here(model_id, f"models/training/{script}.py", verb).items():
        assert getattr(entry, key) == value, key
    card = importlib.import_module(f"models.training.{script}").card
    report = json.loads((models / entry.parity_report).read_text())
    publish(models, entry, lambda e: card(report, e))
    assert (models / "manifest.json").read_bytes() == (shipped / "manifest.json").read_bytes()
    name = f"cards/{model_id}.md"
    assert (models / name).read_text() == (shipped / name).read_text()
