"""Fold two speech-emotion networks into the shipped model: one reads each utterance
alone, the other relative to the room's recent voices; their logits are averaged.

    python -m models.training.speech_pair OUT.keras UTTERANCE.keras SPEAKER.keras
    # the pair's figures for every training protocol and seed with both members trained:
    python -m models.training.speech_pair --score-runs models/reports/speech_emotion.pairs.json

Input (300, 64, 2): channel 0 the utterance's normalised log-mel, channel 1 the same
shifted by the online speaker offset (`edge.voice.adapt`); the manifest declares it
as `preprocessing.channels = ["utterance", "speaker"]` and the daemon builds both
(`edge.voice.analyzer.SpeechEmotionModel`). Each member reads its own channel: its first
convolution's kernel is widened with zeros for the other channel (the same arithmetic,
no extra layer, stock layers only). Averaging logits is the normalised geometric mean of the
two members' probabilities.

Why two (chosen on the validation speakers, `models/cards_extra/speech_emotion.md`):
the speaker-relative member is the more accurate on clean speech of a known corpus
and evens out voices (female and male), the per-utterance member carries across
corpora (trained on EmoDB alone it scores RAVDESS at 4-label UAR 0.43 where the
speaker-relative one scores 0.13); in simulated rooms and babble the pair beats either.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

CHANNELS = ("utterance", "speaker")


def fold(utterance: Any, speaker: Any) -> Any:
    """One graph: each member rebuilt on the two-channel input, its first convolution's
    kernel widened with zeros for the other member's channel (the same arithmetic, no
    extra layer), the two outputs averaged."""
    from tensorflow import keras

    from models.training.speech_voices import build_model

    inp = keras.Input((*utterance.inputs[0].shape[1:3], 2), name="logmel")
    outs = []
    for i, member in enumerate((utterance, speaker)):
        arch = "attention" if any("multiply" in lay.name for lay in member.layers) else "cnn"
        twin: Any = build_model(arch, channels=2)
        weights = member.get_weights()
        first = np.zeros((*weights[0].shape[:2], 2, weights[0].shape[3]), np.float32)
        first[:, :, i, :] = weights[0][:, :, 0, :]
        twin.set_weights([first, *weights[1:]])
        twin.name = f"member_{CHANNELS[i]}"  # nested models need distinct names
        outs.append(twin(inp))
    return keras.Model(inp, keras.layers.Average(name="logits")(outs),
                       name="speech_emotion_pair")


def score_runs(runs: Path) -> dict[str, Any]:
    """For each `speech_voices` protocol and seed whose two members (`--offset none`
    and the speaker offset) are both trained: the pair's figures on every test of that
    protocol, as `speech_voices` reports a single network's, plus mean and spread."""
    from tensorflow import keras

    from edge.voice.features import fit_frames
    from models.training.speech_emotion import FRAMES, add_offsets, online_offsets
    from models.training.speech_voices import build_cache, figures

    d = build_cache(3, 0)
    out: dict[str, Any] = {}
    for alone in sorted(runs.glob("*_attention_none_s*")):
        train_on, seed = alone.name.split("_")[0], alone.name.rsplit("_s", 1)[1]
        relative = runs / f"{train_on}_attention_s{seed}"
        if not (alone / "result.json").exists() or not (relative / "result.json").exists():
            continue
        pair = fold(keras.models.load_model(alone / "best.keras", compile=False),
                    keras.models.load_model(relative / "best.keras", compile=False))
        corpora = ("ravdess", "emodb") if train_on == "both" else (train_on,)
        result: dict[str, Any] = {}
        for corpus in ("ravdess", "emodb"):
            sel = (d["variant"] == "clean") & (d["corpus"] == corpus)
            sel &= (d["split"] == "test") | (corpus not in corpora)
            xs = np.stack([fit_frames(v.astype(np.float32), FRAMES) for v in d["x"][sel]])
            off = online_offsets(d["mean"][sel].astype(np.float32), d["speaker"][sel].astype(str))
            x = np.stack([xs, add_offsets(xs, off)], axis=-1)
            kind = "cross_corpus" if corpus not in corpora else "held_out_speakers"
            result[f"{kind}_{corpus}"] = figures(pair.predict(x, verbose=0), d["y"][sel],
                                                 d["gender"][sel])
        out.setdefault(f"train_on={train_on}", {})[f"seed {seed}"] = result
    for entry in out.values():
        runs_of = list(entry.values())
        summary: dict[str, Any] = {}
        for t in sorted({t for r in runs_of for t in r}):
            summary[t] = {}
            for m in ("accuracy", "uar", "uar_4_labels_7way"):
                v = [float(r[t][m]) for r in runs_of if t in r]
                summary[t][m] = {"mean": round(float(np.mean(v)), 4),
                                 "sd": round(float(np.std(v)), 4), "runs": len(v)}
        entry["mean"] = summary
    if not out:
        raise SystemExit(f"no pair of trained members under {runs}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("utterance", type=Path, nargs="?",
                    help="the member trained with --offset none")
    ap.add_argument("speaker", type=Path, nargs="?",
                    help="the member trained with --offset speaker")
    ap.add_argument("--score-runs", type=Path, default=None, metavar="REPORT",
                    help="score the pairs of finished speech_voices runs, write REPORT")
    args = ap.parse_args(argv)
    if args.score_runs:
        import json

        from edge.lab.data import cache_root

        report = score_runs(cache_root() / "train" / "speech_voices")
        args.score_runs.write_text(json.dumps(report, indent=1) + "\n")
        print(json.dumps({k: v["mean"] for k, v in report.items()}, indent=1))
        return 0
    if not (args.out and args.utterance and args.speaker):
        ap.error("OUT.keras UTTERANCE.keras SPEAKER.keras are needed")
    from tensorflow import keras

    a = keras.models.load_model(args.utterance, compile=False)
    b = keras.models.load_model(args.speaker, compile=False)
    pair = fold(a, b)
    x = np.random.default_rng(0).normal(0, 1, (4, 300, 64, 2)).astype(np.float32)
    want = (a.predict(x[..., :1], verbose=0) + b.predict(x[..., 1:], verbose=0)) / 2
    got = pair.predict(x, verbose=0)
    if not np.allclose(got, want, atol=1e-4):
        raise SystemExit(f"folded pair differs from its members: {np.abs(got - want).max()}")
    pair.save(args.out)
    print(f"wrote {args.out} ({pair.count_params()} parameters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
