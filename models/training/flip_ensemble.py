"""Fold trained expression networks and horizontal-flip test-time augmentation into one.

    python -m models.training.flip_ensemble OUT.keras IN.keras [IN2.keras ...]

The output model runs every member network on the face and on its mirror image
and averages all the logits: an ensemble in one graph, so the daemon and the
int8 conversion see a single model. Faces are left-right symmetric in
expression, which makes the mirror a free second view; independently trained
members (different seeds) make different mistakes.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _mirror_layer() -> Any:
    """A registered layer (not a Lambda) so the saved model loads in safe mode."""
    import keras

    @keras.saving.register_keras_serializable(package="affectd")
    class Mirror(keras.layers.Layer):
        """Left-right mirror of NHWC images."""

        def call(self, x: Any) -> Any:
            return keras.ops.flip(x, axis=2)

    return Mirror


Mirror = None


def register() -> Any:
    """Register the custom layer (call before loading an ensemble .keras file)."""
    global Mirror
    if Mirror is None:
        Mirror = _mirror_layer()
    return Mirror


def flip_ensemble(members: list[Any]) -> Any:
    from tensorflow import keras

    inp = keras.Input(members[0].inputs[0].shape[1:], batch_size=1, name="face")
    mirrored = register()(name="mirror")(inp)
    for i, m in enumerate(members):
        m.name = f"member_{i}"  # nested models need distinct names
    outs = [m(x) for m in members for x in (inp, mirrored)]
    avg = keras.layers.Average(name="logits")(outs)
    return keras.Model(inp, avg, name="face_expression_ensemble")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dst", type=Path)
    ap.add_argument("src", type=Path, nargs="+")
    args = ap.parse_args(argv)
    from tensorflow import keras

    members = [keras.models.load_model(p, compile=False) for p in args.src]
    flip_ensemble(members).save(args.dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
