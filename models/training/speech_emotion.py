"""The first speech-emotion recipe (model 1.x) and the helpers its successor uses.

    python -m models.training.speech_emotion [--epochs 60]
    # speech_emotion 1.0.0:
    python -m models.training.speech_emotion --speaker-norm --select min_gender_uar --epochs 45

The shipped model (2.x) comes from `models.training.speech_voices` (rooms, noise and
channels in training, measured across corpora); this module keeps the split, audio
loading, the feature cache the quantizer calibrates from, and the speaker offsets.

Split by speaker, never by clip: test = RAVDESS actors 19, 20 and EmoDB
speakers 03 (m), 08 (f); validation (epoch selection) = RAVDESS actors 17, 18
and EmoDB speakers 09 (f), 10 (m); training = everyone else. EmoDB boredom is
excluded (no such label); RAVDESS calm counts as neutral.

Input: 3 s (300 frames) of 64-band log-mel with per-utterance band means
removed (`edge.voice.features`). Augmentation: speed perturbation (0.9, 1.1)
and white noise at 15-30 dB SNR precomputed, then random time crops and
SpecAugment masks per batch; class weights (inverse sqrt frequency); label
smoothing. A small CNN (4 conv blocks, about 70 M multiply-adds) that runs in
about a millisecond as int8. Resumable with Keras BackupAndRestore; the best epoch by validation
unweighted recall (`--select min_gender_uar`: the recall of the worse-served gender) is kept.

`--speaker-norm`: each utterance's features are shifted by its deviation from its
speaker's running mean spectrum, as the daemon's online normaliser computes it
(`edge.voice.adapt`): training draws that mean over the utterance and k - 1 other
utterances of the speaker (k uniform in 1..32), validation replays each speaker's
clips in a fixed random order through the online normaliser itself.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import numpy.typing as npt

from edge.lab.corpora import Clip, scan
from edge.lab.data import cache_root, data_root
from edge.messages import EMOTIONS
from edge.voice.features import N_MELS, SR, fit_frames, hz_to_mel, log_mel, mel_to_hz, normalise

FRAMES = 300
TEST_SPEAKERS = {"ravdess-19", "ravdess-20", "emodb-03", "emodb-08"}
VAL_SPEAKERS = {"ravdess-17", "ravdess-18", "emodb-09", "emodb-10"}


def split_of(c: Clip) -> str:
    if c.speaker in TEST_SPEAKERS:
        return "test"
    return "val" if c.speaker in VAL_SPEAKERS else "train"


def load_audio(path: Path) -> npt.NDArray[np.float32]:
    import soundfile as sf

    from edge.sources.microphone.rate import to_analysis_rate

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return to_analysis_rate(x.mean(axis=1), int(sr))


def trim_silence(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Cut leading/trailing silence (frames 35 dB under the loudest), as the VAD would."""
    from edge.voice.vad import speech_bounds

    a, b = speech_bounds(x)
    return x[a:b] if b - a > 1600 else x


def labelled_clips() -> list[Clip]:
    """RAVDESS then EmoDB clips with one of the 7 labels, in the caches' row order."""
    return [c for root in ("ravdess", "emodb")
            for c in scan(data_root() / "speech" / root)[0] if c.label is not None]


def features(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return normalise(log_mel(x))


def build_cache() -> dict[str, npt.NDArray[np.generic]]:
    path = cache_root() / "speech_features_v1.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return {k: z[k] for k in z.files}
    from scipy.signal import resample_poly

    clips = labelled_clips()
    rng = np.random.default_rng(0)
    feats, labels, splits, speakers, variants, genders = [], [], [], [], [], []
    for i, c in enumerate(clips):
        x = trim_silence(load_audio(c.path))
        versions = [("orig", x)]
        if split_of(c) == "train":
            versions += [("slow", resample_poly(x, 10, 9).astype(np.float32)),
                         ("fast", resample_poly(x, 9, 10).astype(np.float32))]
            snr = rng.uniform(15, 30)
            noise = rng.normal(0, np.sqrt(np.mean(x ** 2) / 10 ** (snr / 10)), x.size)
            versions.append(("noise", (x + noise).astype(np.float32)))
        for name, v in versions:
            lm = features(v)
            feats.append(fit_frames(lm, 400))  # keep 4 s; training crops 3 s at random
            labels.append(EMOTIONS.index(str(c.label)))
            splits.append(split_of(c))
            speakers.append(c.speaker)
            variants.append(name)
            genders.append(c.gender)
        if i % 200 == 0:
            print(f"features {i}/{len(clips)}", flush=True)
    data = {"x": np.stack(feats).astype(np.float16), "y": np.array(labels),
            "split": np.array(splits), "speaker": np.array(speakers),
            "variant": np.array(variants), "gender": np.array(genders)}
    np.savez(path, **data)  # type: ignore[arg-type]  # cache only: never committed
    return data


def utterance_means(d: dict[str, npt.NDArray[np.generic]]) -> npt.NDArray[np.float32]:
    """Band means of each cached row's log-mel before normalisation (augmented versions
    share their recording's), for the speaker normalisation (`edge.voice.adapt`)."""
    path = cache_root() / "speech_utt_means_v1.npy"
    if path.exists():
        return np.load(path)
    clips = labelled_clips()
    means: list[npt.NDArray[np.float32]] = []
    for c in clips:
        m = log_mel(trim_silence(load_audio(c.path))).mean(axis=0)
        means += [m] * (4 if split_of(c) == "train" else 1)
    out = np.stack(means).astype(np.float32)
    if len(out) != len(d["y"]):
        raise RuntimeError("feature cache and clip list disagree; delete the caches")
    np.save(path, out)
    return out


def online_offsets(means: npt.NDArray[np.float32], speakers: npt.NDArray[np.str_],
                   seed: int = 0) -> npt.NDArray[np.float32]:
    """Offsets of the daemon's online normaliser, each speaker's clips played in a fixed
    pseudo-random order (as `affectd eval speech` plays them)."""
    from edge.voice.adapt import SpeakerAdaptation, session_order

    out = np.zeros_like(means)
    for session in session_order([str(s) for s in speakers], seed):
        ad = SpeakerAdaptation()
        for i in session:
            out[i] = ad.offset(means[i])
    return out


def add_offsets(x: npt.NDArray[np.float32],
                off: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Shift the speech frames (not the zero padding) of each row by its offset."""
    voiced = np.any(x != 0, axis=2, keepdims=True)
    return np.where(voiced, x + off[:, None, :], 0.0).astype(np.float32)


def crop_and_mask(x: Any) -> Any:
    """A random `FRAMES`-long crop with SpecAugment masks (Park et al. 2019): one band of
    up to 40 frames and one of up to 10 mel bins zeroed (a tf.data map step)."""
    import tensorflow as tf

    x = tf.image.random_crop(x, (FRAMES, 64))
    t0 = tf.random.uniform((), 0, FRAMES - 40, tf.int32)
    tw = tf.random.uniform((), 0, 40, tf.int32)
    f0 = tf.random.uniform((), 0, 64 - 10, tf.int32)
    fw = tf.random.uniform((), 0, 10, tf.int32)
    t = tf.range(FRAMES)[:, None]
    f = tf.range(64)[None, :]
    return tf.where(((t >= t0) & (t < t0 + tw)) | ((f >= f0) & (f < f0 + fw)), 0.0, x)


def warp_mel(x: Any, warp: float) -> Any:
    """Vocal-tract-length perturbation (Jaitly & Hinton 2013) on a (frames, 64) log-mel
    tensor: every frequency scaled by a random factor in [1 - warp, 1 + warp], so one
    voice is also heard from a longer or shorter vocal tract (a tf.data map step). The
    scaling is done in Hz and mapped back onto the Slaney mel bands of
    `edge.voice.features` (a plain stretch of the band index would be a shift above
    1 kHz, where the scale is logarithmic)."""
    import tensorflow as tf

    top = float(hz_to_mel(np.array(SR / 2.0)))
    step = top / (N_MELS + 1)  # band i is centred on mel (i + 1) * step
    centres = mel_to_hz(np.arange(1, N_MELS + 1, dtype=np.float64) * step).astype(np.float32)
    source = tf.constant(centres) / tf.random.uniform((), 1 - warp, 1 + warp)
    # `hz_to_mel` again, in TensorFlow ops: the factor is drawn inside the tf.data graph
    mel = tf.where(source >= 1000.0,
                   15.0 + tf.math.log(tf.maximum(source, 1e-3) / 1000.0) / (np.log(6.4) / 27.0),
                   source / (200.0 / 3))
    pos = tf.clip_by_value(mel / step - 1.0, 0.0, N_MELS - 1.0)
    lo = tf.cast(tf.floor(pos), tf.int32)
    hi = tf.minimum(lo + 1, N_MELS - 1)
    w = pos - tf.cast(lo, tf.float32)
    return tf.gather(x, lo, axis=1) * (1 - w) + tf.gather(x, hi, axis=1) * w


def build_model() -> object:
    from tensorflow import keras

    L = keras.layers
    inp = keras.Input((FRAMES, 64, 1), name="logmel")
    x = inp
    for c in (16, 32, 64, 128):
        x = L.Conv2D(c, 3, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.MaxPooling2D(2)(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.4)(x)
    out = L.Dense(len(EMOTIONS), name="logits")(x)
    return keras.Model(inp, out, name="speech_emotion")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", type=Path, default=cache_root() / "train" / "speech_emotion")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warp", type=float, default=0.0,
                    help="vocal-tract-length perturbation (warp_mel): frequencies scaled by a "
                         "random factor in [1 - w, 1 + w] (0: off)")
    ap.add_argument("--select", choices=("uar", "min_gender_uar"), default="uar",
                    help="epoch selection on the validation speakers")
    ap.add_argument("--speaker-norm", action="store_true",
                    help="online speaker normalisation (edge.voice.adapt) of the features")
    args = ap.parse_args(argv)
    import tensorflow as tf
    from tensorflow import keras

    keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    d = build_cache()
    tr = d["split"] == "train"
    va = (d["split"] == "val") & (d["variant"] == "orig")
    xtr, ytr = d["x"][tr].astype(np.float32), d["y"][tr]
    xva = np.stack([fit_frames(v.astype(np.float32), FRAMES) for v in d["x"][va]])
    if args.speaker_norm:
        from edge.voice.adapt import training_offsets

        means = utterance_means(d)
        groups = np.cumsum(d["variant"] == "orig") - 1
        off = training_offsets(means[tr], d["speaker"][tr], groups[tr],
                               np.random.default_rng(args.seed))
        xtr = add_offsets(xtr, off)
        xva = add_offsets(xva, online_offsets(means[va], d["speaker"][va]))
    xva = xva[..., None]
    yva = d["y"][va]
    gva = d["gender"][va]
    counts = np.bincount(ytr, minlength=len(EMOTIONS))
    cw = 1.0 / np.sqrt(np.maximum(counts, 1))
    cw = cw / (cw * counts).sum() * counts.sum()
    print("train", counts.tolist(), "val", np.bincount(yva, minlength=7).tolist(), flush=True)

    def augment(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        x = crop_and_mask(x)
        if args.warp > 0:
            x = warp_mel(x, args.warp)
        return x[..., None], tf.one_hot(y, len(EMOTIONS)), tf.gather(tf.constant(cw, tf.float32), y)

    train = (tf.data.Dataset.from_tensor_slices((xtr, ytr)).shuffle(len(xtr), seed=args.seed)
             .map(augment, num_parallel_calls=2).batch(32).prefetch(2))

    class ValUAR(keras.callbacks.Callback):
        best = -1.0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            pred = self.model.predict(xva, verbose=0).argmax(1)

            def uar_of(sel: npt.NDArray[np.bool_]) -> float:
                p, t = pred[sel], yva[sel]
                return float(np.mean([np.mean(p[t == c] == c) for c in range(7)
                                      if np.any(t == c)]))

            uar, acc = uar_of(np.ones(len(yva), bool)), float(np.mean(pred == yva))
            by_gender = {g: uar_of(gva == g) for g in ("female", "male")}
            print(f"epoch {epoch + 1}: val acc {acc:.4f} uar {uar:.4f} "
                  f"female {by_gender['female']:.4f} male {by_gender['male']:.4f}", flush=True)
            score = uar if args.select == "uar" else min(by_gender.values())
            if score > self.best:
                self.best = score
                self.model.save(args.out / "best.keras")
                (args.out / "best.json").write_text(json.dumps(
                    {"epoch": epoch + 1, "val_uar": uar, "val_accuracy": acc,
                     "val_uar_by_gender": by_gender, "select": args.select}))

    model = build_model()
    steps = int(np.ceil(len(xtr) / 32))
    sched = keras.optimizers.schedules.CosineDecay(2e-3, args.epochs * steps, warmup_target=None)
    model.compile(optimizer=keras.optimizers.AdamW(sched, weight_decay=1e-3),  # type: ignore[attr-defined]
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                            label_smoothing=0.1))
    model.fit(train, epochs=args.epochs, verbose=2,  # type: ignore[attr-defined]
              callbacks=[keras.callbacks.BackupAndRestore(str(args.out / "backup")), ValUAR()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
