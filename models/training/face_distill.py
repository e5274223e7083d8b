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
Resumable (Keras BackupAndRestore in the output folder); the best epoch by val
accuracy (single view, no mirror) is `best.keras`, scored with and without its
mirror in `result.json`. Runs on CPU; `--bf16` uses bfloat16 compute where the CPU
has it.
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
    from edge.face.analyzer import EXPRESSION_ID
    from edge.registry import Registry

    model = Registry().load(EXPRESSION_ID, 2)
    size = model.inputs[0].shape[1]
    o = (x.shape[1] - size) // 2
    logits = np.stack([model.run(c[None, o:o + size, o:o + size, None].astype(np.float32))[0]
                       .reshape(-1) for c in x])
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
    from models.training.flip_ensemble import load_half

    tf.keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    xtr, ytr = load_fer_split("train")
    xva, yva = load_fer_split("val")
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
        p_t = tf.nn.softmax(teacher / TEMPERATURE)
        log_s = tf.nn.log_softmax(logits / TEMPERATURE)
        kl = tf.reduce_sum(p_t * (tf.math.log(p_t + 1e-8) - log_s), axis=1)
        smooth = onehot * 0.9 + 0.1 / n
        ce = -tf.reduce_sum(smooth * tf.nn.log_softmax(logits), axis=1)
        return TEACHER_SHARE * TEMPERATURE ** 2 * kl + (1 - TEACHER_SHARE) * ce

    def label_accuracy(target: Any, logits: Any) -> Any:
        return tf.cast(tf.equal(tf.argmax(target[:, n:], 1), tf.argmax(logits, 1)), tf.float32)

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
    single = best.predict(va_x, verbose=0)
    mirror = best.predict(va_x[:, :, ::-1], verbose=0)
    result = {"val_accuracy": float((single.argmax(1) == yva).mean()),
              "val_accuracy_with_mirror": float(((single + mirror).argmax(1) == yva).mean()),
              "epochs": args.epochs, "temperature": TEMPERATURE,
              "teacher_share": TEACHER_SHARE, "init": args.init, "lr": args.lr}
    (args.out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
