"""Fold horizontal-flip test-time augmentation into one network.

    python -m models.training.flip_ensemble IN.keras OUT.keras

The output model runs the trained expression network on the face and on its
mirror image (same weights) and averages the logits: a two-member ensemble in
one graph, so the daemon and the int8 conversion see a single model. Faces are
left-right symmetric in expression, which makes the mirror a free second view.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def flip_ensemble(model: Any) -> Any:
    import tensorflow as tf
    from tensorflow import keras

    inp = keras.Input(model.inputs[0].shape[1:], batch_size=1, name="face")
    mirrored = keras.layers.Lambda(lambda t: tf.reverse(t, axis=[2]), name="mirror")(inp)
    avg = keras.layers.Average(name="logits")([model(inp), model(mirrored)])
    return keras.Model(inp, avg, name=f"{model.name}_flip")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args(argv)
    from tensorflow import keras

    flip_ensemble(keras.models.load_model(args.src, compile=False)).save(args.dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
