"""Float Keras model -> float and full-int8 TFLite (per-channel int8 weights, int8
activations, I/O types from the recipe) through `tf.lite.TFLiteConverter`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

_TF_TYPES = {"int8": "int8", "uint8": "uint8", "float32": "float32"}


def to_float_tflite(model: Any) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    return strip_names(bytes(conv.convert()))


def strip_names(flatbuffer: bytes) -> bytes:
    """Replace internal tensor names (long Keras scopes) with short ones and name inputs
    and outputs after their signature keys (the Keras layer names, e.g. "regressors").
    Saves tens of kilobytes on small models and changes nothing else."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    io_names: dict[int, bytes] = {}
    for sig in model.signatureDefs or []:
        for tm in list(sig.inputs or []) + list(sig.outputs or []):
            io_names[int(tm.tensorIndex)] = tm.name
    for g in model.subgraphs:
        for i, t in enumerate(g.tensors):
            t.name = io_names.get(i, f"t{i}".encode())
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def to_int8_tflite(model: Any, calibration: list[npt.NDArray[np.float32]],
                   input_dtype: str = "int8", output_dtype: str = "float32",
                   per_channel: bool = True) -> bytes:
    """Full-integer conversion; every operator must have an int8 kernel (no float fallback)."""
    import tensorflow as tf

    def representative() -> Iterator[list[npt.NDArray[np.float32]]]:
        for x in calibration:
            yield [x.astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = getattr(tf, _TF_TYPES[input_dtype])
    conv.inference_output_type = getattr(tf, _TF_TYPES[output_dtype])
    if not per_channel:
        conv._experimental_disable_per_channel = True
    return strip_names(bytes(conv.convert()))
