"""Model cards (`models/cards/<id>.md`) generated from the manifest and parity reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.registry import ModelEntry, Registry

_EXTRA = "cards_extra"
"""Hand-written sections (intended use, limits, biases) live in
models/cards_extra/<id>.md and are appended to the generated card."""


def card(entry: ModelEntry, report: dict[str, Any], extra: str) -> str:
    lines = [f"# {entry.id} {entry.version}", "",
             f"Task: {entry.task}. File `models/{entry.file}`, sha256 `{entry.sha256}`.", "",
             "## Source and licence", "",
             f"- Origin: {entry.source.get('origin', entry.source.get('path', ''))}",
             f"- Licence: {entry.licence}"]
    if entry.source.get("attribution"):
        lines.append(f"- Attribution: {entry.source['attribution']}")
    lines += [f"- Training data: {entry.training_data}", f"- Data terms: {entry.data_terms}",
              f"- Rebuild: `python -m quantize build {entry.recipe}`", "", "## Inputs and outputs",
              "", "| tensor | shape | dtype | scale | zero point |", "|---|---|---|---|---|"]
    for t in entry.inputs + entry.outputs:
        lines.append(f"| {t['name']} | {t['shape']} | {t['dtype']} | {t['scale']:.6g} | "
                     f"{t['zero_point']} |")
    if entry.labels:
        lines += ["", "Labels, in output order: " + ", ".join(f"`{x}`" for x in entry.labels)]
    lines += ["", "## Quantization parity (measured by `quantize build`)", ""]
    from quantize.build import report_markdown

    lines += report_markdown(report).splitlines()[2:]
    t = report.get("task", {})
    if "int8_confusion" in t:
        labs = entry.labels
        lines += ["", "Confusion matrix of the int8 model (rows: true, columns: predicted):", "",
                  "| | " + " | ".join(labs) + " |", "|---" * (len(labs) + 1) + "|"]
        for lab, row in zip(labs, t["int8_confusion"], strict=True):
            lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
        lines += ["", "Per-class recall (int8): " + ", ".join(
            f"{k} {v:.3f}" for k, v in t["int8_per_class_recall"].items())]
    if extra:
        lines += ["", extra.strip()]
    return "\n".join(lines) + "\n"


def write_cards(models_dir: Path) -> list[Path]:
    reg = Registry(models_dir, create=True)
    out_dir = models_dir / "cards"
    out_dir.mkdir(exist_ok=True)
    written = []
    for entry in reg.entries.values():
        if not entry.file.endswith(".tflite"):
            continue  # e.g. the physiology stress model: its training script writes its card
        report = json.loads((models_dir / entry.parity_report).read_text())
        extra_path = models_dir / _EXTRA / f"{entry.id}.md"
        extra = extra_path.read_text() if extra_path.exists() else ""
        path = out_dir / f"{entry.id}.md"
        path.write_text(card(entry, report, extra))
        written.append(path)
    return written
