"""`python -m models.training.action_units`: the population's neutral face for the
geometric action units (`edge.face.action_units`), and how well they read.

Runs the shipped int8 face mesh on FER2013 train crops (framed as `affectd eval aus
--crops` frames them), takes the neutral crops' median and robust spread
(1.4826 x MAD) of every measure, and writes `models/action_units.json` (a median
and a spread per measure, the range and the prior weight: no image data), its manifest entry, its
card and `models/reports/action_units.json`. The action units' definitions are
anatomical (which landmarks a muscle moves); where the anatomy offers more than one
reading (`COMPARED`), the one kept is the better on FER2013 train, and the report gives
every reading's AUROC on train and, for information only, on val. The range
(`RANGE_SD` spreads of a neutral face = full intensity) and the prior weight are fixed.
The report gives the AUROCs on train (where the neutral face was fitted) and on FER2013
val (held out), by `edge.lab.evaluate.aus`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.face.action_units import ACTION_UNITS, MEASURES, Population
from edge.face.analyzer import ACTION_UNITS_ID, MESH_ID
from edge.face.mesh import FaceMesh
from edge.lab.data import FER_LABELS, load_fer_split
from edge.lab.evaluate.aus import ACCEPTANCE_SET, PROTOTYPES, auroc, crop_measures, score_aus
from edge.registry import ModelEntry, Registry, sha256_file
from models.training.publish import publish, trained_here

REPO = Path(__file__).resolve().parents[2]
RANGE_SD = 3.0
"""A measure this many neutral spreads from the neutral face reads as full intensity."""
PRIOR_FRAMES = 10.0
"""Weight of the population's neutral face against a track's own neutral frames."""
COMPARED: dict[str, tuple[tuple[tuple[str, int], ...], ...]] = {
    # AU4's corrugator pulls the inner brows down and towards each other.
    "AU4": ((("brow_inner", -1),), (("brow_inner", -1), ("brow_gap", -1))),
    # AU9 wrinkles the nose: the upper lip rises towards it and procerus lowers the
    # middle of the brow. The lip's rise is a pixel or two on a 48x48 crop.
    "AU9": ((("nose_lip", -1), ("brow_mid", -1)), (("brow_mid", -1),)),
}
"""Units with more than one anatomical reading: the readings compared on train (the
shipped one is `edge.face.action_units.ACTION_UNITS`)."""


def reading_auroc(values: np.ndarray, labels: list[str], pop: Population,
                  parts: tuple[tuple[str, int], ...], au: str) -> float:
    """AUROC of one reading of `au` (its measures and signs) for the unit's prototype
    expressions, computed as `edge.face.action_units.intensities` does."""
    z = (values - pop.mean) / (pop.sd * pop.range_sd)
    c = np.mean([sign * z[:, MEASURES.index(m)] for m, sign in parts], axis=0)
    return auroc(1.0 / (1.0 + np.exp(-4.0 * (np.clip(c, -5.0, 5.0) - 0.5))),
                 np.isin(np.array(labels), PROTOTYPES[au]))


def _measures(split: str, per_class: int, mesh: FaceMesh, seed: int = 0
              ) -> tuple[np.ndarray, list[str], int]:
    x, y = load_fer_split(split)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class]
                          for c in range(len(FER_LABELS))])
    values, ok = crop_measures((x[i] for i in idx), mesh)
    labels = [FER_LABELS[int(y[i])] for i in idx[ok]]
    return values[ok], labels, int((~ok).sum())


def fit(per_class: int, threads: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the model's JSON, the report)."""
    mesh = FaceMesh(Registry().load(MESH_ID, threads))
    values, labels, missed = _measures("train", per_class, mesh)
    neutral = values[np.array(labels) == "neutral"]
    med = np.median(neutral, axis=0)
    mad = 1.4826 * np.median(np.abs(neutral - med), axis=0)
    model = {"neutral_mean": {m: round(float(v), 6) for m, v in zip(MEASURES, med, strict=True)},
             "neutral_sd": {m: round(float(v), 6) for m, v in zip(MEASURES, mad, strict=True)},
             "range_sd": RANGE_SD, "prior_frames": PRIOR_FRAMES,
             "action_units": {au: [[m, s] for m, s in parts]
                              for au, parts in ACTION_UNITS.items()}}
    pop = Population(med, mad, RANGE_SD, PRIOR_FRAMES)
    report: dict[str, Any] = {"per_class": per_class, "n_neutral": len(neutral)}
    splits = (("train", (values, labels, missed)), ("val", _measures("val", 10_000, mesh)))
    report["compared"] = {au: [{"measures": [[m, s] for m, s in parts], **{
        split: round(reading_auroc(v, lab, pop, parts, au), 4) for split, (v, lab, _) in splits},
        "shipped": parts == ACTION_UNITS[au]} for parts in readings]
        for au, readings in COMPARED.items()}
    for au, rows in report["compared"].items():
        best = max(rows, key=lambda r: r["train"])
        if not best["shipped"]:
            raise SystemExit(f"{au}: the reading {best['measures']} reads better on train "
                             "than the shipped one; ship it in edge.face.action_units")
    for split, (v, lab, miss) in splits:
        aus = score_aus(v, lab, pop)
        report[split] = {"n": len(lab), "no_mesh": miss, "aus": aus,
                         "mean_auroc": round(float(np.mean(
                             [aus[a]["auroc"] for a in ACCEPTANCE_SET])), 4)}
        print(split, report[split]["mean_auroc"],
              {a: r["auroc"] for a, r in aus.items()}, flush=True)
    return model, report


def card(report: dict[str, Any], entry: ModelEntry) -> str:
    val = report["val"]
    rows = [f"| {au} | {', '.join(v['positive'])} | {report['train']['aus'][au]['auroc']:.3f} | "
            f"{v['auroc']:.3f} |" for au, v in val["aus"].items()]
    return "\n".join([
        f"# Model card: {entry.id} {entry.version}", "",
        "Geometric action-unit estimates from the 468-point face mesh (`face_mesh`): each "
        "unit is read from one or two landmark distances its muscle changes, in an "
        "eye-levelled frame, in units of the distance between the eyes, against the face's "
        "own neutral frames (per track, in memory only) or, for a single image, the "
        "population's neutral face stored here. **These are geometric estimates, not a FACS "
        "coder**: they are not trained on AU labels, and a unit whose muscle moves no mesh "
        "landmark much (AU15, AU20, AU23) reads weakly; AU9 is read from the brow its "
        "procerus lowers, not from the nose it wrinkles (below).", "",
        f"File `models/{entry.file}` (sha256 `{entry.sha256}`): medians and robust spreads "
        f"of {len(MEASURES)} measures on {report['n_neutral']} neutral FER2013 train crops "
        f"(no image data), `range_sd` {RANGE_SD} (a measure {RANGE_SD} spreads from neutral "
        f"reads as full intensity), `prior_frames` {PRIOR_FRAMES:g}. Recipe: `python -m "
        "models.training.action_units`.", "",
        "## How well they read (`affectd eval aus`)", "",
        "AUROC of each unit's intensity for the expressions whose EMFACS prototype contains "
        "it against all other crops, population neutral face. FER2013 crops are 48x48 "
        "greyscale faces upscaled for the mesh: a harder case than camera frames, where "
        "the face is larger and each track has its own neutral face.", "",
        "| unit | positive expressions | FER2013 train | FER2013 val (held out) |",
        "|---|---|---|---|", *rows, "",
        f"Mean over {', '.join(ACCEPTANCE_SET)}: train {report['train']['mean_auroc']:.3f}, "
        f"val **{val['mean_auroc']:.3f}** (n = {val['n']}; {val['no_mesh']} crops without a "
        "mesh).", "",
        "## Readings compared", "",
        "Where the anatomy offers more than one reading of a unit, the one that separates "
        "the unit's prototype expressions better on FER2013 train is shipped; val is shown "
        "for information and chose nothing. The recipe stops if another reading wins on "
        "train.", "",
        "| unit | measures (sign) | FER2013 train | FER2013 val | shipped |",
        "|---|---|---|---|---|",
        *(f"| {au} | {', '.join(f'{m} ({s:+d})' for m, s in r['measures'])} | "
          f"{r['train']:.3f} | {r['val']:.3f} | {'yes' if r['shipped'] else 'no'} |"
          for au, rs in report.get("compared", {}).items() for r in rs), "",
        "AU9's first reading added the upper lip's rise towards the nose (`nose_lip`): on "
        "a 48x48 crop that is a pixel or two, and alone it separates disgust at about "
        "0.54 on train, so it diluted the brow. AU4 reads weakly either way (its readings "
        "within a few thousandths): fear, one of its prototypes, also raises the brows "
        "(AU1 + AU2 + AU4), and a 48x48 crop shows little of the corrugator's pull.", "",
        "Licence: Apache-2.0 (the statistics); the mesh itself is MediaPipe's (Apache-2.0).",
        ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="models.training.action_units", description=__doc__)
    ap.add_argument("--per-class", type=int, default=1000,
                    help="FER2013 train crops per expression (disgust has 436)")
    ap.add_argument("--models", type=Path, default=REPO / "models")
    args = ap.parse_args(argv)
    model, report = fit(args.per_class)
    out = args.models / "action_units.json"
    out.write_text(json.dumps(model, indent=1) + "\n")
    (args.models / "reports" / "action_units.json").write_text(json.dumps(report, indent=1) +
                                                                "\n")
    publish(args.models, ModelEntry(
        id=ACTION_UNITS_ID, version="1.1.0", file=out.name, sha256=sha256_file(out),
        task="action_units",
        inputs=[{"name": "mesh_measures", "shape": [1, len(MEASURES)], "dtype": "float32",
                 "features": list(MEASURES)}],
        outputs=[{"name": "intensities", "shape": [1, len(ACTION_UNITS)], "dtype": "float32",
                  "features": list(ACTION_UNITS)}],
        labels=list(ACTION_UNITS),
        training_data="FER2013 train crops (neutral ones for the statistics)",
        data_terms="the file holds two summary statistics per landmark distance, no image data",
        metrics={"val_mean_auroc": report["val"]["mean_auroc"],
                 "val_au12_auroc": report["val"]["aus"]["AU12"]["auroc"],
                 "size_bytes": out.stat().st_size},
        **trained_here(ACTION_UNITS_ID, "models/training/action_units.py", "fitted")),
        lambda entry: card(report, entry))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
