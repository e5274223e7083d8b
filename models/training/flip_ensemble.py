"""Fold trained expression networks and horizontal-flip test-time augmentation into one.

    python -m models.training.flip_ensemble OUT.keras IN.keras [IN2.keras ...]
    python -m models.training.flip_ensemble --choose OUT.keras IN.keras [IN2.keras ...]
    python -m models.training.flip_ensemble --choose --half PREFIX IN.keras [IN2.keras ...]

With `--choose`, every non-empty subset of the members is scored on FER2013 `val`
(each member's logits on the face and its mirror, computed once and cached next
to it as `IN.keras.val_logits.npy`), the table is printed, and the subset with
the best val accuracy (the smaller one on a tie) is the one written;
`--max-members N` caps its size (the shipped face_expression: `--max-members 4`, so
that the int8 file stays under 10 MB).

With `--half`, nothing is folded here: each chosen member is written as
`PREFIX_K.npz` (its architecture as Keras JSON and its weights in float16, half
the bytes: a deep member is about 5.6 MB instead of 11), and the quantize recipe
lists those files (`kind = "flip_ensemble"`, `quantize.sources`), which builds the
same ensemble from them. That keeps every committed file under the size rule.

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


def save_half(model: Any, path: Path) -> None:
    """A member as architecture JSON plus float16 weights (`load_half` reads it)."""
    import numpy as np

    arrays: dict[str, Any] = {f"w{i:03d}": np.asarray(w, dtype=np.float16)
                              for i, w in enumerate(model.get_weights())}
    arrays["architecture"] = np.array(model.to_json())
    np.savez_compressed(path, **arrays)


def load_half(path: Path) -> Any:
    """The float32 Keras model of a `save_half` file (weights widened back from float16)."""
    import keras
    import numpy as np

    with np.load(path, allow_pickle=False) as f:
        model = keras.models.model_from_json(str(f["architecture"]))
        names = sorted(k for k in f.files if k.startswith("w"))
        model.set_weights([f[k].astype(np.float32) for k in names])
    return model


def val_logits(path: Path, model: Any) -> Any:
    """(2, n, 7) logits of a member on FER val faces and on their mirror images."""
    import numpy as np

    from edge.lab.data import load_fer_split
    from models.training.face_expression import center_crop

    cache = path.with_name(path.name + ".val_logits.npy")
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        return np.load(cache)
    x = center_crop(load_fer_split("val")[0])[..., None].astype("float32")
    out = np.stack([model.predict(x, batch_size=256, verbose=0),
                    model.predict(x[:, :, ::-1], batch_size=256, verbose=0)])
    np.save(cache, out)
    return out


def choose(paths: list[Path], members: list[Any], max_members: int = 0) -> list[int]:
    """Indices of the member subset (at most `max_members`, 0: any number) whose
    averaged logits score best on val."""
    import itertools

    import numpy as np

    from edge.lab.data import load_fer_split

    y = load_fer_split("val")[1]
    logits = [val_logits(p, m) for p, m in zip(paths, members, strict=True)]
    best: tuple[float, int, tuple[int, ...]] = (-1.0, 0, ())
    for r in range(1, (max_members or len(paths)) + 1):
        for subset in itertools.combinations(range(len(paths)), r):
            avg = np.mean([logits[i] for i in subset], axis=(0, 1))
            acc = float((avg.argmax(1) == y).mean())
            print(f"{acc:.4f}  " + " + ".join(paths[i].parent.name for i in subset), flush=True)
            if acc > best[0] or (acc == best[0] and r < best[1]):
                best = (acc, r, subset)
    print(f"chosen: {best[0]:.4f} " + " + ".join(paths[i].parent.name for i in best[2]))
    return list(best[2])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--choose", action="store_true",
                    help="keep the subset of members that scores best on FER val")
    ap.add_argument("--max-members", type=int, default=0,
                    help="with --choose: at most this many members (the int8 file grows by "
                         "one member's weights each; the shipped one must stay under 10 MB)")
    ap.add_argument("--half", action="store_true",
                    help="write the chosen members as DST_K.npz (float16 weights) for a "
                         "flip_ensemble recipe instead of one folded .keras file")
    ap.add_argument("dst", type=Path)
    ap.add_argument("src", type=Path, nargs="+")
    args = ap.parse_args(argv)
    from tensorflow import keras

    members = [keras.models.load_model(p, compile=False) for p in args.src]
    if args.choose:
        members = [members[i] for i in choose(args.src, members, args.max_members)]
    if args.half:
        for k, m in enumerate(members):
            save_half(m, args.dst.with_name(f"{args.dst.name}_{k}.npz"))
        return 0
    flip_ensemble(members).save(args.dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
