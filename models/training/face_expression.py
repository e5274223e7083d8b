"""Train the face-expression network on FER2013 (train split; selection on val).

    python -m models.training.face_expression [--epochs 40] [--out DIR]

A small residual CNN (about 1.2 M parameters) on 44x44 greyscale crops of the
48x48 FER faces: random crop, horizontal flip, rotation and zoom, brightness
and contrast jitter, random erasing; label smoothing 0.1; class weights the
square root of inverse frequency; SGD with Nesterov momentum, weight decay and
a cosine schedule with warm-up. Resumable: Keras BackupAndRestore keeps the
last epoch in the output folder, so running the same command again continues.
The best epoch by val accuracy is saved as `best.keras`; `quantize` turns it
into the shipped int8 model. Runs on CPU (about 2 min an epoch on 2 cores).
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

CROP = 44


def build_model(widths: tuple[int, ...] = (32, 64, 128, 256), deep: bool = False) -> object:
    """The residual CNN; `deep` adds an identity block (layers named `extra_*`) after
    each downsampling block, initialised so that it passes its input through unchanged
    (last batch-norm scale 0, and the input is already rectified)."""
    from tensorflow import keras

    L = keras.layers

    def block(x: object, c: int, stride: int) -> object:
        sc = x
        y = L.Conv2D(c, 3, strides=stride, padding="same", use_bias=False)(x)
        y = L.ReLU()(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(c, 3, padding="same", use_bias=False)(y))
        if stride != 1 or sc.shape[-1] != c:  # type: ignore[attr-defined]
            sc = L.BatchNormalization()(L.Conv2D(c, 1, strides=stride, use_bias=False)(sc))
        return L.ReLU()(L.Add()([y, sc]))

    def identity_block(x: object, c: int, tag: str) -> object:
        y = L.Conv2D(c, 3, padding="same", use_bias=False, name=f"extra_{tag}_conv1")(x)
        y = L.ReLU(name=f"extra_{tag}_relu1")(L.BatchNormalization(name=f"extra_{tag}_bn1")(y))
        y = L.Conv2D(c, 3, padding="same", use_bias=False, name=f"extra_{tag}_conv2")(y)
        y = L.BatchNormalization(gamma_initializer="zeros", name=f"extra_{tag}_bn2")(y)
        return L.ReLU(name=f"extra_{tag}_relu2")(L.Add(name=f"extra_{tag}_add")([y, x]))

    inp = keras.Input((CROP, CROP, 1), name="face")
    x = L.Rescaling(1 / 127.5, -1.0)(inp)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(widths[0], 3, padding="same",
                                                 use_bias=False)(x)))
    for w in widths[1:]:
        x = block(x, w, 2)
        if deep:
            x = identity_block(x, w, str(w))
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.3)(x)
    out = L.Dense(len(FER_LABELS), name="logits", dtype="float32")(x)  # float32 under bf16
    return keras.Model(inp, out, name="face_expression")


def deepen(trained: object) -> object:
    """A `deep` model carrying the trained weights of a plain one: computes the same
    function until training moves the new blocks (Net2Net-style growth)."""
    deep: Any = build_model(deep=True)
    old = [layer for layer in trained.layers if layer.weights]  # type: ignore[attr-defined]
    new = [layer for layer in deep.layers if layer.weights and not layer.name.startswith("extra_")]
    if len(old) != len(new):
        raise ValueError("the trained model is not the plain architecture")
    for a, b in zip(old, new, strict=True):
        b.set_weights(a.get_weights())
    return deep


def augmenter() -> Any:
    """Flip, rotation (+-10 degrees) and zoom (+-10 %), reflecting at the borders."""
    from tensorflow import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomRotation(10 / 360, fill_mode="reflect"),
        keras.layers.RandomZoom(0.1, fill_mode="reflect"),
    ])


def augment_images(x: Any, aug: Any) -> Any:
    """A batch of 48x48 uint8 faces -> augmented float 44x44x1 crops: `aug`, a random
    crop, contrast x0.75-1.25 and brightness +-25 levels, and random erasing (one 12x12
    grey patch in half of the images)."""
    import tensorflow as tf

    x = tf.cast(x[..., None], tf.float32)
    x = tf.cast(aug(x, training=True), tf.float32)  # bf16 under mixed precision
    x = tf.image.random_crop(x, (tf.shape(x)[0], CROP, CROP, 1))
    scale = tf.random.uniform((tf.shape(x)[0], 1, 1, 1), 0.75, 1.25)
    shift = tf.random.uniform((tf.shape(x)[0], 1, 1, 1), -25.0, 25.0)
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = tf.clip_by_value((x - mean) * scale + mean + shift, 0.0, 255.0)
    b = tf.shape(x)[0]
    cy = tf.random.uniform((b, 1, 1, 1), 0, CROP)
    cx = tf.random.uniform((b, 1, 1, 1), 0, CROP)
    yy = tf.reshape(tf.range(CROP, dtype=tf.float32), (1, CROP, 1, 1))
    xx = tf.reshape(tf.range(CROP, dtype=tf.float32), (1, 1, CROP, 1))
    patch = (tf.abs(yy - cy) < 6) & (tf.abs(xx - cx) < 6)
    use = tf.random.uniform((b, 1, 1, 1)) < 0.5
    return tf.where(patch & use, tf.fill(tf.shape(x), 127.0), x)


def center_crop(x: np.ndarray) -> np.ndarray:
    o = (x.shape[1] - CROP) // 2
    return x[:, o:o + CROP, o:o + CROP]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this trained model (a warm restart: a new cosine cycle)")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up epochs")
    ap.add_argument("--deepen", action="store_true",
                    help="with --init: add an identity-initialised block per stage first")
    ap.add_argument("--deep", action="store_true",
                    help="without --init: train the two-blocks-per-stage network from scratch")
    ap.add_argument("--bf16", action="store_true",
                    help="mixed bfloat16 compute (about 1.7x faster on CPUs with AVX512-BF16); "
                         "the saved model is float32")
    ap.add_argument("--mixup", type=float, default=0.0,
                    help="mixup Beta(a, a) parameter; 0 turns it off")
    ap.add_argument("--out", type=Path, default=cache_root() / "train" / "face_expression")
    args = ap.parse_args(argv)

    import tensorflow as tf
    from tensorflow import keras

    tf.keras.utils.set_random_seed(args.seed)
    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    args.out.mkdir(parents=True, exist_ok=True)
    xtr, ytr = load_fer_split("train")
    xva, yva = load_fer_split("val")
    counts = np.bincount(ytr, minlength=len(FER_LABELS))
    cw = np.sqrt(counts.sum() / (len(counts) * counts))
    cw = cw / (cw * counts).sum() * counts.sum()
    print("train", counts.tolist(), "class weights", np.round(cw, 3).tolist(), flush=True)

    aug = augmenter()
    n_classes = len(FER_LABELS)

    def train_map(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        x = augment_images(x, aug)
        b = tf.shape(x)[0]
        onehot = tf.one_hot(y, n_classes)
        w = tf.gather(tf.constant(cw, tf.float32), y)
        if args.mixup > 0:  # mix each image with a partner from the same batch
            g1 = tf.random.gamma((b, 1), args.mixup)
            g2 = tf.random.gamma((b, 1), args.mixup)
            lam = tf.maximum(g1 / (g1 + g2), 1 - g1 / (g1 + g2))  # keep the own label dominant
            perm = tf.random.shuffle(tf.range(b))
            x = lam[:, :, None, None] * x + (1 - lam[:, :, None, None]) * tf.gather(x, perm)
            onehot = lam * onehot + (1 - lam) * tf.gather(onehot, perm)
        return x, onehot, w

    train = (tf.data.Dataset.from_tensor_slices((xtr, ytr)).shuffle(len(xtr), seed=args.seed)
             .batch(args.batch, drop_remainder=True).map(train_map, num_parallel_calls=2)
             .prefetch(2))
    val = tf.data.Dataset.from_tensor_slices(
        (center_crop(xva)[..., None].astype("float32"), tf.one_hot(yva, n_classes))).batch(256)

    steps = len(xtr) // args.batch
    warm = max(1, int(args.warmup * steps))

    class WarmCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: tf.Tensor) -> tf.Tensor:
            step = tf.cast(step, tf.float32)
            total = float(args.epochs * steps)
            cos = 0.5 * args.lr * (1 + tf.cos(math.pi * (step - warm) / (total - warm)))
            return tf.where(step < warm, args.lr * step / warm, cos)

        def get_config(self) -> dict[str, float]:
            return {}

    model: Any = (keras.models.load_model(args.init, compile=False) if args.init
                  else build_model(deep=args.deep))
    if args.deepen:
        before = model.predict(center_crop(xva[:256])[..., None].astype("float32"), verbose=0)
        model = deepen(model)
        after = model.predict(center_crop(xva[:256])[..., None].astype("float32"), verbose=0)
        print("deepened; max logit change", float(np.abs(after - before).max()), flush=True)
    model.compile(
        optimizer=keras.optimizers.SGD(WarmCosine(), momentum=0.9, nesterov=True,
                                       weight_decay=5e-4),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=["accuracy"])
    callbacks = [
        keras.callbacks.BackupAndRestore(str(args.out / "backup")),
        keras.callbacks.ModelCheckpoint(str(args.out / "best.keras"), monitor="val_accuracy",
                                        save_best_only=True, mode="max"),
        keras.callbacks.CSVLogger(str(args.out / "log.csv"), append=True),
    ]
    model.fit(train, validation_data=val, epochs=args.epochs,
              callbacks=callbacks, verbose=2)
    best = keras.models.load_model(args.out / "best.keras", compile=False)
    if args.bf16:  # the same weights in a float32 graph, for quantize and the daemon
        keras.mixed_precision.set_global_policy("float32")
        plain: Any = build_model(deep=args.deep or args.deepen)
        plain.set_weights(best.get_weights())
        best = plain
        best.save(args.out / "best.keras")
    logits = best.predict(center_crop(xva)[..., None].astype("float32"), verbose=0)
    acc = float((logits.argmax(1) == yva).mean())
    (args.out / "result.json").write_text(json.dumps({"val_accuracy": acc,
                                                      "epochs": args.epochs}, indent=2))
    print(f"best val accuracy {acc:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
