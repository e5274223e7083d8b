"""Fit the shipped physiology stress model on the Stress-Predict E4 sessions.

    python -m models.training.stress [--e4 DIR] [--temperature]

Every subject's session is streamed through the daemon's `PhysioAnalyzer` five
times, each with its label blocks in a different random order (seeds 100-104;
the first rest block stays first for the baseline; `affectd eval stress` scores
seeds 0-4), and the window inputs it computes are pooled: the schedule carries
no information, so the model can only learn from physiology. Boosted trees
(`edge.lab.evaluate.stress.fit_model`: scikit-learn's histogram gradient boosting,
`TREE_PARAMS`, classes balanced) on the 120 inputs become `models/stress_physio.json`,
registered in the manifest with its sha256 and the leave-one-subject-out figures
of `affectd eval stress --shuffle-blocks S`, S = 0..4 (the same recipe fitted
without the subject scored), written to `models/reports/stress_physio.json`.
About ten minutes on one core. `--temperature`: the model that also reads skin
temperature (`models/stress_physio_temperature.json`, for wearers with a thermometer),
measured side by side with the heart-and-skin recipe on the same streams.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.lab.data import data_root
from edge.lab.evaluate.stress import (
    TRAIN_SEEDS,
    TREE_PARAMS,
    evaluate_shipped,
    fit_model,
    leave_one_out_orders,
    stream_sessions,
)
from edge.physio.stress_model import (
    ALL_FEATURES,
    CONTEXT,
    FEATURES,
    MODEL_ID,
    PRIOR_WINDOWS,
    TEMPERATURE,
    TEMPERATURE_MODEL_ID,
    StressModel,
    model_input_names,
)
from edge.registry import ModelEntry, default_models_dir, sha256_file
from models.training.publish import publish, trained_here

EVAL_SEEDS = (0, 1, 2, 3, 4)
CALIBRATION_S = 180.0


def card(report: dict[str, Any], entry: ModelEntry) -> str:
    """The model card, every figure from `report` (this script's own measurement)."""
    ba, auc = report["balanced_accuracy"], report["auc"]
    subj = report["per_subject_seed0"]
    splits = "\n".join(f"| {k} | {v} |" for k, v in report["importance"].items())
    features = tuple(report["features"])
    warm = features == ALL_FEATURES
    n_inputs = len(model_input_names(features))
    signals = ("heart rate, skin conductance and skin temperature" if warm
               else "heart rate and skin conductance")
    return f"""# {entry.id} — stress from wrist physiology (boosted trees)

File `models/{entry.file}` ({entry.metrics["size_bytes"]} bytes), sha256 `{entry.sha256}`.
Rebuild: `python -m models.training.stress{" --temperature" if warm else ""}` (about ten
minutes on one core).

## What it does
Every 60-s window of a wearer's {signals} is described by
{len(features)} features ({", ".join(features)}; `edge/physio/stress_model.py`), each with
its change since the previous window; all {2 * len(features)} are normalised against the
wearer's own past windows (running mean and SD, persisted with the baseline, starting
from the training population's statistics counted as {PRIOR_WINDOWS} windows). The model
reads those of this window and of the {CONTEXT} before it ({n_inputs} inputs):
{report["trees"]} gradient-boosted trees of depth {TREE_PARAMS["max_depth"]}
(`edge/physio/trees.py` walks them in numpy; the daemon needs no scikit-learn) add up
to the logit of p(stress). The daemon publishes
stress = p and arousal = 2p - 1. No input reads the clock or the time since the session
started. {_which(warm)}

## Data
{entry.training_data}. Labels per second from the dataset (rest / stress task).
Training pools five random orders of each session's label blocks (seeds
{list(TRAIN_SEEDS)}), the first rest block kept first for the baseline.

## Measured (leave one subject out, blocks shuffled)
`{report["command"]}`, S = {report["seeds"]}: {report["subjects"]} subjects,
{report["n_windows"]} windows each run.

| seed | balanced accuracy | AUC |
|---|---|---|
""" + "\n".join(f"| {s} | {b:.4f} | {a:.4f} |" for s, b, a in zip(report["seeds"], ba, auc,
                                                                   strict=True)) + f"""
| mean | {report["balanced_accuracy_mean"]:.4f} | {report["auc_mean"]:.4f} |

Per subject (seed 0): {", ".join(f"{k} {v:.2f}" for k, v in subj.items())}.

## Scoring it on new people
`affectd eval stress --model shipped --e4 FOLDER{"" if warm else " --without-temperature"}`
streams every subject of a Stress-Predict-style folder through the daemon's
physiology path in five block orders (`--orders`, default 1-5) and scores this very
model: balanced accuracy and AUC per order, their mean and spread, and each subject's
mean and range. On a folder of people
it never saw, that is the generalisation figure; on ../shared's Stress-Predict, which
trained it, it is in-sample ({report.get("in_sample", IN_SAMPLE)}) and says only
that the daemon runs the model as it was trained.

## How it was chosen
On this leave-one-subject-out protocol only (no test split exists for 24 subjects):
the last eleven features (tonic range, rise and climb, phasic peak, SCR rise time
and recent count, signal spread, heart-rate extremes, rise and jitter) were added
together as one candidate set, and 500 trees were preferred over 200 after 300 and
500 were compared; ten further window features, other tree settings (depth 2 or 4,
larger leaves, an L2 penalty) and purer training windows (dropping windows that
straddle a block change) were looked at and not kept. Smoothing the output over the
last 1-3 windows (their mean, mean logit or median) and centring it on the wearer's own
past outputs were measured afterwards on the heart-and-skin model, leave one subject
out over block orders 1-5: balanced accuracy 0.750 as shipped, 0.744 / 0.738 / 0.729
smoothed over 1 / 2 / 3 windows, 0.686-0.751 centred; neither was kept (the tasks last
a few minutes and the trees already read two windows of context). Monotone trees
(scikit-learn's `monotonic_cst`: p(stress) made non-decreasing in this window's heart
rate, last heart rate, tonic level, SCR amplitude and recent SCR count, the
physiology's direction under stress) were measured the same way over block orders 0-4:
0.7554 (0.7605 / 0.7647 / 0.7443 / 0.7609 / 0.7464) against 0.7531, and constraining
heart rate and tonic level alone 0.7526; AUC 0.8411 / 0.8416 against 0.8412; the
wearer norm starting from the population counted as 10 windows instead of 3: 0.7521
(AUC 0.8386). Within the spread over orders, so none was kept. The monotone trees
again: `affectd eval stress --e4 DIR --without-temperature --orders 0 1 2 3 4 --monotone
hr_rel hr_last_rel scl_logrel scr_amp scr_recent` (about 7 min on 2 cores).

{_side_by_side(report)}## What the trees read
Splits per feature (over its value, its change and both lags):

| feature | splits |
|---|---|
{splits}

## Limits and biases
- Stress-Predict covers one protocol (Stroop, interview, hyperventilation) with
  young adult volunteers; other stressors and ages are not measured.
- The wearer norm needs a few windows to settle: the first minutes after a fresh
  calibration are scored against little history.
- {target_line(report["balanced_accuracy_mean"])}: window physiology separates rest
  from these tasks only partly once the schedule is hidden, and much better for some
  wearers than for others (per-subject figures above).
- 60-s windows and a context of two more: after a change the estimate needs a minute
  or two to follow.
- Without skin conductance (a chest strap alone) the model has no input and the
  analyzer falls back to a fixed rule on heart rate and RMSSD at half the quality.
"""


IN_SAMPLE = "0.838 +- 0.007 over orders 1-5, AUC 0.922"
"""`affectd eval stress --model shipped --without-temperature` on ../shared's Stress-Predict:
the heart-and-skin model in-sample (measured when it was committed)."""


def _which(warm: bool) -> str:
    """Which windows the daemon scores with this model."""
    if warm:
        return (f"The daemon uses this model while a thermometer reports (an E4-style "
                f"wristband); without one, `{MODEL_ID}` (the same recipe over heart rate "
                f"and skin conductance).")
    return (f"When a thermometer reports too (an E4-style wristband), the daemon uses "
            f"`{TEMPERATURE_MODEL_ID}` instead: the same recipe with "
            f"{len(TEMPERATURE)} skin-temperature features.")


def _side_by_side(report: dict[str, Any]) -> str:
    """The card's comparison with the heart-and-skin recipe (the temperature model)."""
    plain = report.get("without_temperature")
    if plain is None:
        return ""
    rows = "\n".join(f"| {s} | {a:.4f} | {b:.4f} | {c:.4f} | {d:.4f} |" for s, a, b, c, d in zip(
        report["seeds"], plain["balanced_accuracy"], report["balanced_accuracy"], plain["auc"],
        report["auc"], strict=True))
    return f"""## With and without skin temperature
The same streams, the same leave-one-subject-out folds and block orders, the same tree
settings; only the four temperature features ({", ".join(TEMPERATURE)}: the window's mean
against the resting baseline, its slope, spread and rise) differ. They were added as one
candidate set, judged on this protocol only (how the resting temperature is kept: below).

| seed | balanced accuracy without | with | AUC without | with |
|---|---|---|---|---|
{rows}
| mean | {plain["balanced_accuracy_mean"]:.4f} | {report["balanced_accuracy_mean"]:.4f} | \
{plain["auc_mean"]:.4f} | {report["auc_mean"]:.4f} |

"""


def target_line(mean_ba: float) -> str:
    """How the mean balanced accuracy stands against the issue's target (0.75)."""
    if mean_ba >= 0.75:
        return f"At the issue's target (0.75) by a small margin ({mean_ba:.4f})"
    return f"Below the issue's target (0.75): {mean_ba:.4f}"


def importance(model: StressModel) -> dict[str, int]:
    """How many tree splits read each feature (in any of its six inputs)."""
    counts = dict.fromkeys(model.features, 0)
    names = model_input_names(model.features)
    for tree in model.trees.trees:
        for f in tree.feature[tree.feature >= 0]:
            name = names[int(f)].split("_", 1)[1].rsplit("_lag", 1)[0]
            counts[name] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--e4", type=Path, default=None, help="Stress-Predict folder")
    ap.add_argument("--models", type=Path, default=default_models_dir())
    ap.add_argument("--temperature", action="store_true",
                    help=f"build {TEMPERATURE_MODEL_ID}: the recipe with skin temperature")
    args = ap.parse_args(argv)
    features = ALL_FEATURES if args.temperature else FEATURES
    model_id = TEMPERATURE_MODEL_ID if args.temperature else MODEL_ID
    root = args.e4 or data_root() / "physio" / "stress_predict"
    streams = stream_sessions(root, (*EVAL_SEEDS, *TRAIN_SEEDS), CALIBRATION_S)
    train = [v for (seed, _), v in sorted(streams.items(), key=lambda kv: kv[0])
             if seed in TRAIN_SEEDS and v[1].size]
    raws, labels = [t[0] for t in train], [t[1] for t in train]
    n_subjects = len(raws) // len(TRAIN_SEEDS)
    model = fit_model(raws, labels, features)
    y_all = np.concatenate(labels)
    print(f"fitted on {n_subjects} subjects, {y_all.size} windows "
          f"({y_all.mean():.3f} stress)", flush=True)

    runs = leave_one_out_orders(streams, EVAL_SEEDS, features=features)
    ba = [r["balanced_accuracy"] for r in runs]
    auc = [r["auc"] for r in runs]
    command = "affectd eval stress --e4 DIR --shuffle-blocks S" + (
        "" if args.temperature else " --without-temperature")
    report: dict[str, Any] = {
              "model": model_id, "command": command, "features": list(features),
              "seeds": list(EVAL_SEEDS), "balanced_accuracy": ba, "auc": auc,
              "balanced_accuracy_mean": round(float(np.mean(ba)), 4),
              "auc_mean": round(float(np.mean(auc)), 4),
              "subjects": runs[0]["subjects"], "n_windows": runs[0]["n_windows"],
              "per_subject_seed0": runs[0]["per_subject"],
              "trees": len(model.trees.trees), "importance": importance(model)}
    if args.temperature:  # the heart-and-skin recipe on the same streams, side by side
        plain = leave_one_out_orders(streams, EVAL_SEEDS, features=FEATURES)
        report["without_temperature"] = {
            "balanced_accuracy": [r["balanced_accuracy"] for r in plain],
            "auc": [r["auc"] for r in plain],
            "balanced_accuracy_mean": round(float(np.mean(
                [r["balanced_accuracy"] for r in plain])), 4),
            "auc_mean": round(float(np.mean([r["auc"] for r in plain])), 4)}
    if args.temperature:  # the committed heart-and-skin card states its own
        inside = evaluate_shipped(root, model=model)
        report["in_sample"] = (f"{inside['balanced_accuracy']:.3f} +- "
                               f"{inside['balanced_accuracy_sd']:.3f} over orders 1-5, "
                               f"AUC {inside['auc']:.3f}")
    print(json.dumps({k: report[k] for k in ("balanced_accuracy", "auc")}), flush=True)

    out = args.models / f"{model_id}.json"
    out.write_text(model.to_json({"params": {k: v for k, v in TREE_PARAMS.items()
                                             if k != "class_weight"},
                                  "calibration_s": CALIBRATION_S,
                                  "train_seeds": list(TRAIN_SEEDS)}) + "\n", "utf-8")
    rep_path = args.models / "reports" / f"{model_id}.json"
    rep_path.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    publish(args.models, ModelEntry(
        id=model_id, version="1.0.0", file=out.name, sha256=sha256_file(out),
        task="stress_trees",
        inputs=[{"name": "window_inputs", "shape": [1, len(model_input_names(features))],
                 "dtype": "float32", "features": list(features)}],
        outputs=[{"name": "p_stress", "shape": [1], "dtype": "float32"}],
        training_data="Stress-Predict (Iqbal et al. 2022), Empatica E4 EDA"
                      + (", HR and skin temperature" if args.temperature else " and HR")
                      + f" of {n_subjects} participants, label blocks shuffled",
        data_terms="Stress-Predict is MIT-licensed (Copyright (c) 2022 Talha Iqbal); "
                   "the weights contain no recording",
        metrics={"loso_balanced_accuracy_shuffled_mean": report["balanced_accuracy_mean"],
                 "loso_auc_shuffled_mean": report["auc_mean"],
                 "size_bytes": out.stat().st_size},
        **trained_here(model_id, "models/training/stress.py")),
        lambda entry: card(report, entry))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
