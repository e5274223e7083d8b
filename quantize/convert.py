"""Float model (Keras or SavedModel) -> float and full-int8 TFLite (per-channel int8 weights, int8
activations, I/O types from the recipe) through `tf.lite.TFLiteConverter`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from quantize.sources import converter

_TF_TYPES = {"int8": "int8", "uint8": "uint8", "float32": "float32"}


def to_float_tflite(model: Any) -> bytes:
    conv = converter(model)
    return compact(bytes(conv.convert()))


def _interning_builder(size: int) -> Any:
    import flatbuffers

    class InterningBuilder(flatbuffers.Builder):
        """Writes each distinct int32/int64/float32 vector once (tensor shapes, zero
        points, operator inputs repeat); flatbuffer tables may share a vector."""

        def __init__(self, n: int) -> None:
            super().__init__(n)
            self._seen: dict[tuple[str, bytes], int] = {}

        def CreateNumpyVector(self, x: Any) -> int:  # flatbuffers API name
            if x.dtype.kind not in "iuf" or x.dtype.itemsize < 4:
                return int(super().CreateNumpyVector(x))  # weights: aligned, never shared
            key = (x.dtype.str, x.tobytes())
            if key not in self._seen:
                self._seen[key] = int(super().CreateNumpyVector(x))
            return self._seen[key]

    return InterningBuilder(size)


def compact(flatbuffer: bytes) -> bytes:
    """Drop internal tensor names (long Keras scopes), name inputs and outputs after
    their signature keys (the Keras layer names, e.g. "regressors"), and write each
    repeated shape / quantization / index vector once. The interpreter computes the
    same values bit for bit (a test checks it); small models lose tens of kilobytes."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    io_names: dict[int, bytes] = {}
    for sig in model.signatureDefs or []:
        for tm in list(sig.inputs or []) + list(sig.outputs or []):
            io_names[int(tm.tensorIndex)] = tm.name
    for g in model.subgraphs:
        for i, t in enumerate(g.tensors):
            t.name = io_names.get(i)
    builder = _interning_builder(len(flatbuffer))
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

    conv = converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = getattr(tf, _TF_TYPES[input_dtype])
    conv.inference_output_type = getattr(tf, _TF_TYPES[output_dtype])
    if not per_channel:
        conv._experimental_disable_per_channel = True
    return compact(bytes(conv.convert()))
