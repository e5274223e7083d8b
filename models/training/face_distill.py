"""Distil the shipped expression ensemble into one network (selection on FER2013 val).

    python -m models.training.face_distill [--init MEMBER.npz] [--epochs 20] [--out DIR]

The teacher is the shipped `face_expression` ensemble (four networks, each on the
face and its mirror, int8) run once over every FER2013 train crop; its logits are
cached. Because the teacher averages each face with its mirror, its target is
exact for flipped crops and close for the other light augmentations
(`models.training.face_expression.augment_images`), so the student trains on
augmented crops against the cached soft targets:

    loss = a * T^2 * KL(softmax(teacher / T) || softmax(student / T))
           + (1 - a) * cross-entropy(label, student, smoothing 0.1)

with T = 3 and a = 0.8, the member training's class weights, SGD with Nesterov
momentum and a cosine schedule. The student starts from one trained member (the
deep residual network, about 2.8 M parameters: 2.4 MB in int8) unless `--init none`.
With `--views K` the teacher is consistent instead (the "function matching" of
Beyer et al., 2022, "Knowledge distillation: a good teacher is patient and
consistent"): K augmented views of every train crop, half of them mixed with another
crop (mixup, Beta(0.4, 0.4)), are drawn once and cached as uint8 44x44 crops with the
teacher's logits on exactly those pixels; each epoch the student sees one of the K
views of every face (and its mirror at random: the teacher's target is mirror-invariant)
and learns the teacher's distribution on it, `--teacher-share` of the loss.

Resumable (Keras BackupAndRestore in the output folder); the best epoch by val
accuracy (single view, no mirror) is `best.keras`, scored with and without its
mirror in `result.json`, and saved as float16 weights (`student.npz`, which becomes
`models/float/face_expression_single.npz`: `python -m quantize build
models/recipes/face_expression_single.toml` makes the shipped int8 file). Runs on
CPU; `--bf16` uses bfloat16 compute where the CPU has it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from edge.lab.data import FER_LABELS, cache_root, load_fer_split

REPO = Path(__file__).resolve().parents[2]
TEMPERATURE = 3.0
TEACHER_SHARE = 0.8


def teacher_logits(x: np.ndarray, out: Path) -> np.ndarray:
    """The shipped ensemble's logits on 48x48 crops (cached next to the training run)."""
    cache = out / "teacher_train_logits.npy"
    if cache.exists():
        return np.load(cache)
    from edge.face.analyzer import EXPRESSION_IDS
    from edge.registry import Registry

    model = Registry().load(EXPRESSION_IDS["ensemble"], 2)
    size = model.inputs[0].shape[1]
    o = (x.shape[1] - size) // 2
    logits = np.stack([model.run(c[None, o:o + size, o:o + size, None].astype(np.float32))[0]
                       .reshape(-1) for c in x])
    np.save(cache, logits)
    return logits


def augmented_views(x: np.ndarray, views: int, seed: int, out: Path) -> np.ndarray:
    """`views` augmented 44x44 uint8 versions of each 48x48 crop, (N, views, 44, 44);
    odd-numbered views are mixup blends with another augmented crop. Cached."""
    cache = out / f"views_{views}_seed{seed}.npy"
    if cache.exists():
        return np.load(cache)
    import tensorflow as tf

    from models.training.face_expression import CROP, augment_images, augmenter

    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    aug = augmenter()
    result = np.empty((len(x), views, CROP, CROP), np.uint8)
    for v in range(views):
        for start in range(0, len(x), 1024):
            a = augment_images(x[start:start + 1024], aug).numpy()[..., 0]
            if v % 2:
                partner = rng.integers(0, len(x), len(a))
                b = augment_images(x[partner], aug).numpy()[..., 0]
                lam = rng.beta(0.4, 0.4, (len(a), 1, 1))
                a = lam * a + (1 - lam) * b
            result[start:start + len(a), v] = np.clip(np.round(a), 0, 255).astype(np.uint8)
    np.save(cache, result)
    return result


def teacher_view_logits(views: np.ndarray, out: Path, name: str) -> np.ndarray:
    """The shipped ensemble's logits on each cached view, (N, K, 7). Cached."""
    cache = out / f"teacher_{name}.npy"
    if cache.exists():
        return np.load(cache)
    from edge.face.analyzer import EXPRESSION_IDS
    from edge.registry import Registry

    model = Registry().load(EXPRESSION_IDS["ensemble"], 2)
    n, k = views.shape[:2]
    logits = np.empty((n, k, 7), np.float32)
    for i in range(n):
        for j in range(k):
            face = views[i, j][None, :, :, None].astype(np.float32)
            logits[i, j] = model.run(face)[0].reshape(-1)
    np.save(cache, logits)
    return logits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--init", default=str(REPO / "models" / "float" / "face_expression_2.npz"),
                    help="trained member to start from (.npz or .keras), or 'none'")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--views", type=int, default=0,
                    help="consistent teacher: K cached augmented views with the teacher's "
                         "logits on each (0: the cached clean-crop target, on-line augmentation)")
    ap.add_argument("--teacher-share", type=float, default=TEACHER_SHARE)
    ap.add_argument("--temperature", type=float, default=TEMPERATURE)
    ap.add_argument("--out", type=Path, default=cache_root() / "train" / "face_distill")
    args = ap.parse_args(argv)

    import tensorflow as tf
    from tensorflow import keras

    from models.training.face_expression import (
        augment_images,
        augmenter,
        build_model,
        center_crop,
    )
    from models.training.flip_ensemble import load_half, save_half

    tf.keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    xtr, ytr = load_fer_split("train")
    xva, yva = load_fer_split("val")
    if args.views:
        v_x = augmented_views(xtr, args.views, args.seed, args.out)
        v_t = teacher_view_logits(v_x, args.out, f"views_{args.views}_seed{args.seed}")
        print("teacher accuracy on plain views",
              float((v_t[:, ::2].argmax(2) == ytr[:, None]).mean()), flush=True)
    else:
        t_logits = teacher_logits(xtr, args.out).astype(np.float32)
        print("teacher train accuracy", float((t_logits.argmax(1) == ytr).mean()), flush=True)
    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    counts = np.bincount(ytr, minlength=len(FER_LABELS))
    cw = np.sqrt(counts.sum() / (len(counts) * counts))
    cw = (cw / (cw * counts).sum() * counts.sum()).astype(np.float32)
    n = len(FER_LABELS)
    aug = augmenter()

    def train_map(x: Any, t: Any, y: Any) -> tuple[Any, Any, Any]:
        target = tf.concat([t, tf.one_hot(y, n)], axis=1)  # teacher logits | label
        return augment_images(x, aug), target, tf.gather(tf.constant(cw), y)

    def kd_loss(target: Any, logits: Any) -> Any:
        logits = tf.cast(logits, tf.float32)
        teacher, onehot = target[:, :n], target[:, n:]
        t, share = args.temperature, args.teacher_share
        p_t = tf.nn.softmax(teacher / t)
        log_s = tf.nn.log_softmax(logits / t)
        kl = tf.reduce_sum(p_t * (tf.math.log(p_t + 1e-8) - log_s), axis=1)
        smooth = onehot * 0.9 + 0.1 / n
        ce = -tf.reduce_sum(smooth * tf.nn.log_softmax(logits), axis=1)
        return share * t ** 2 * kl + (1 - share) * ce

    def label_accuracy(target: Any, logits: Any) -> Any:
        return tf.cast(tf.equal(tf.argmax(target[:, n:], 1), tf.argmax(logits, 1)), tf.float32)

    def view_map(x: Any, t: Any, y: Any) -> tuple[Any, Any, Any]:
        k = tf.random.uniform((), 0, args.views, tf.int32)
        img = tf.cast(x[k][..., None], tf.float32)
        img = tf.cond(tf.random.uniform(()) < 0.5, lambda: img[:, ::-1], lambda: img)
        return img, tf.concat([t[k], tf.one_hot(y, n)], axis=0), tf.gather(tf.constant(cw), y)

    if args.views:
        train = (tf.data.Dataset.from_tensor_slices((v_x, v_t, ytr))
                 .shuffle(len(xtr), seed=args.seed).map(view_map, num_parallel_calls=2)
                 .batch(args.batch, drop_remainder=True).prefetch(2))
    else:
        train = (tf.data.Dataset.from_tensor_slices((xtr, t_logits, ytr))
                 .shuffle(len(xtr), seed=args.seed).batch(args.batch, drop_remainder=True)
                 .map(train_map, num_parallel_calls=2).prefetch(2))
    va_x = center_crop(xva)[..., None].astype("float32")
    va_target = np.concatenate([np.zeros((len(yva), n), np.float32),
                                np.eye(n, dtype=np.float32)[yva]], axis=1)
    val = tf.data.Dataset.from_tensor_slices((va_x, va_target)).batch(256)
    steps = len(xtr) // args.batch

    class Cosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> Any:
            total = float(args.epochs * steps)
            return 0.5 * args.lr * (1 + tf.cos(math.pi * tf.cast(step, tf.float32) / total))

        def get_config(self) -> dict[str, float]:
            return {}

    model: Any = build_model(deep=True)  # under the bfloat16 policy when asked
    if args.init != "none":
        member = (load_half(Path(args.init)) if args.init.endswith(".npz")
                  else keras.models.load_model(args.init, compile=False))
        model.set_weights(member.get_weights())
    model.compile(optimizer=keras.optimizers.SGD(Cosine(), momentum=0.9, nesterov=True,
                                                 weight_decay=5e-4),
                  loss=kd_loss, metrics=[label_accuracy])
    callbacks = [
        keras.callbacks.BackupAndRestore(str(args.out / "backup")),
        keras.callbacks.ModelCheckpoint(str(args.out / "best.keras"),
                                        monitor="val_label_accuracy", save_best_only=True,
                                        mode="max"),
        keras.callbacks.CSVLogger(str(args.out / "log.csv"), append=True),
    ]
    model.fit(train, validation_data=val, epochs=args.epochs, callbacks=callbacks, verbose=2)
    keras.mixed_precision.set_global_policy("float32")
    trained = keras.models.load_model(args.out / "best.keras", compile=False)
    best: Any = build_model(deep=True)  # the same weights in a float32 graph
    best.set_weights(trained.get_weights())
    best.save(args.out / "student.keras")
    save_half(best, args.out / "student.npz")  # -> models/float/face_expression_single.npz
    single = best.predict(va_x, verbose=0)
    mirror = best.predict(va_x[:, :, ::-1], verbose=0)
    result = {"val_accuracy": float((single.argmax(1) == yva).mean()),
              "val_accuracy_with_mirror": float(((single + mirror).argmax(1) == yva).mean()),
              "epochs": args.epochs, "temperature": args.temperature, "views": args.views,
              "teacher_share": args.teacher_share, "init": args.init, "lr": args.lr}
    (args.out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
