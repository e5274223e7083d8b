"""Accuracy of a speech-emotion network against noise level and talker distance, on the
held-out test speakers (RAVDESS 19, 20; EmoDB 03, 08).

    python -m models.training.speech_conditions MODEL.keras [...] [--offset none] [--json OUT]

Conditions: clean; babble of the other test speakers (never trained on) and pink
noise at 20, 10, 5 and 0 dB SNR; rooms simulated afresh (a seed the training bank
never used) with the talker at 0.5-1, 1-2, 2-3 and 3-4 m. Features and the online
speaker normalisation are the daemon's; each condition's copies are made once (seed
0), so models are compared on the same audio.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.voice.features import fit_frames, log_mel
from models.training.speech_augment import add_at_snr, coloured_noise, fit_length, room_impulses
from models.training.speech_emotion import (
    FRAMES,
    add_offsets,
    features,
    labelled_clips,
    load_audio,
    online_offsets,
    split_of,
    trim_silence,
)

F32 = npt.NDArray[np.float32]
SNRS = (20.0, 10.0, 5.0, 0.0)
DISTANCES = ((0.5, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0))


def condition_sets(split: str = "test"
                   ) -> tuple[dict[str, list[F32]], npt.NDArray[np.int64], list[str]]:
    """{condition: degraded clips of the `split` speakers}, labels, speakers."""
    from scipy.signal import fftconvolve

    clips = [c for c in labelled_clips() if split_of(c) == split]
    audio = [trim_silence(load_audio(c.path)) for c in clips]
    speakers = [c.speaker for c in clips]
    rng = np.random.default_rng(0)
    sets: dict[str, list[F32]] = {"clean": audio}
    for snr in SNRS:
        babble, pink = [], []
        for x, s in zip(audio, speakers, strict=True):
            others = [a for a, t in zip(audio, speakers, strict=True) if t != s]
            talk = sum(fit_length(others[int(j)], x.size, rng)
                       / (np.sqrt(np.mean(others[int(j)] ** 2)) + 1e-9)
                       for j in rng.choice(len(others), 4, replace=False))
            babble.append(add_at_snr(x, np.asarray(talk, np.float32), snr))
            pink.append(add_at_snr(x, coloured_noise(x.size, rng), snr))
        sets[f"babble_{snr:g}dB"] = babble
        sets[f"noise_{snr:g}dB"] = pink
    rooms = room_impulses(200, seed=12345)
    for lo, hi in DISTANCES:
        bank = [h for h, d, _ in rooms if lo <= d < hi]
        sets[f"room_{lo:g}-{hi:g}m"] = [
            fftconvolve(x, bank[int(rng.integers(len(bank)))])[: x.size].astype(np.float32)
            for x in audio]
    return sets, np.array([c.label for c in clips]), speakers


def model_inputs(audio: list[F32], speakers: list[str], offset: str = "speaker") -> F32:
    """The daemon's inputs: normalised log-mel, with `offset="speaker"` shifted by the
    online speaker offsets (each speaker's clips in the fixed session order)."""
    x = np.stack([fit_frames(features(a), FRAMES) for a in audio])
    if offset == "none":
        return x[..., None]
    means = np.stack([log_mel(a).mean(axis=0) for a in audio]).astype(np.float32)
    return add_offsets(x, online_offsets(means, np.array(speakers)))[..., None]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--offset", choices=("speaker", "none"), default="speaker",
                    help="the models' input: with the online speaker offset, or without")
    args = ap.parse_args(argv)
    from tensorflow import keras

    from edge.messages import EMOTIONS

    sets, labels, speakers = condition_sets()
    y = np.array([EMOTIONS.index(str(v)) for v in labels])
    inputs = {k: model_inputs(v, speakers, args.offset) for k, v in sets.items()}
    out: dict[str, dict[str, float]] = {}
    for path in args.models:
        model = keras.models.load_model(path)
        out[str(path)] = {k: float(np.mean(model.predict(x, verbose=0).argmax(1) == y))
                          for k, x in inputs.items()}
        print(path, json.dumps(out[str(path)]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"n": int(y.size), "accuracy": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
