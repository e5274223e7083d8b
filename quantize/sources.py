"""Float sources a recipe may name, loaded into something `tf.lite.TFLiteConverter` takes.

    kind = "keras"         a Keras 3 `.keras` file
    kind = "saved_model"   a TensorFlow SavedModel folder (serving_default signature)
    kind = "onnx"          an ONNX file, turned into a SavedModel by onnx2tf (NCHW
                           inputs become NHWC, as the daemon feeds them)
    kind = "tflite"        a float TFLite file whose graph `quantize.graph` rebuilds
    kind = "flip_ensemble" `paths`: member networks (`.keras`, or `.npz` with float16
                           weights from `models.training.flip_ensemble --half`),
                           folded into one graph that averages every member's
                           logits on the face and its mirror image

onnx2tf pins exact versions of TensorFlow and NumPy that conflict with ours, so
`script/bootstrap` installs it (and its few pure-Python helpers) with
`--no-deps` from `requirements-onnx.txt` whenever the `train` extra is
installed; only an ONNX recipe imports it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantize.recipe import SOURCE_KINDS, Recipe


@dataclass(frozen=True)
class SavedModelSource:
    """A SavedModel folder; `input_shape` is the NHWC shape of its single input."""

    path: Path
    input_shape: tuple[int, ...]


def saved_model_source(path: Path) -> SavedModelSource:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures["serving_default"]
    specs = list(sig.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ValueError(f"{path}: a model with one input is expected, found {len(specs)}")
    return SavedModelSource(Path(path), tuple(int(s or 1) for s in specs[0].shape))


def onnx_to_saved_model(onnx_path: Path, out_root: Path) -> Path:
    """Convert with onnx2tf into a folder named after the file's hash (reused when present)."""
    digest = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()[:16]
    out = out_root / f"{Path(onnx_path).stem}-{digest}"
    if not (out / "saved_model.pb").exists():
        try:
            import onnx2tf
        except ImportError:
            raise RuntimeError("ONNX sources need onnx2tf: pip install --no-deps -r "
                               "requirements-onnx.txt (see quantize/sources.py)") from None
        onnx2tf.convert(input_onnx_file_path=str(onnx_path), output_folder_path=str(out),
                        non_verbose=True, copy_onnx_input_output_names_to_tflite=True)
    return out


def load_source(recipe: Recipe) -> Any:
    """A Keras model or a `SavedModelSource` for the recipe's float source."""
    kind = recipe.source.get("kind")
    if kind == "tflite":
        from quantize.graph import rebuild_keras

        return rebuild_keras(recipe.source_path, recipe.source.get("output_clip"),
                             equalize_weights=recipe.equalize,
                             prelu_as_max_from=recipe.prelu_as_max_from)
    if kind == "saved_model":
        return saved_model_source(recipe.source_path)
    if kind == "onnx":
        from edge.lab.data import cache_root

        return saved_model_source(onnx_to_saved_model(recipe.source_path,
                                                      cache_root() / "onnx2tf"))
    if kind == "flip_ensemble":
        from tensorflow import keras

        from models.training.flip_ensemble import flip_ensemble, load_half

        members = [load_half(p) if p.suffix == ".npz" else
                   keras.models.load_model(p, compile=False) for p in recipe.source_paths]
        return flip_ensemble(members)
    if kind == "keras":
        from tensorflow import keras

        from models.training.flip_ensemble import register

        register()  # the expression ensemble uses a custom mirror layer
        return keras.models.load_model(recipe.source_path, compile=False)
    raise ValueError(f"{recipe.path}: source.kind must be one of {', '.join(SOURCE_KINDS)}")


def input_size(model: Any) -> int:
    """Height (= width) of the model's NHWC input."""
    if isinstance(model, SavedModelSource):
        return int(model.input_shape[1])
    return int(model.inputs[0].shape[1])


def converter(model: Any) -> Any:
    import tensorflow as tf

    if isinstance(model, SavedModelSource):
        return tf.lite.TFLiteConverter.from_saved_model(str(model.path))
    return tf.lite.TFLiteConverter.from_keras_model(model)
