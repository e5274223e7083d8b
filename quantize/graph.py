"""Rebuild a float TFLite graph as a Keras model, weights copied from the file.

The dependable way to a full-int8 model from a float `.tflite` (see the trap
notes in ../shared/README.md: ai-edge-quantizer and onnx2tf fail on the
MediaPipe detectors) is to re-create the graph in Keras and run it through
`tf.lite.TFLiteConverter` with a representative dataset. Operator options are
read with the flatbuffer schema that ships with LiteRT
(`ai_edge_litert.schema_py_generated`); constant tensors are read from the
interpreter after one invoke, which resolves fp16 `DEQUANTIZE` and sparse
`DENSIFY` weights to plain float32 arrays.

Supported operators: CONV_2D, DEPTHWISE_CONV_2D, ADD, RELU, RELU6, PRELU (rebuilt as
MAXIMUM of x and a * x, which XNNPACK runs in int8), PAD,
MAX_POOL_2D, RESHAPE, CONCATENATION, RESIZE_BILINEAR, DEPTH_TO_SPACE, and the
weight-only DEQUANTIZE/DENSIFY. Anything else raises `UnsupportedGraph`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class UnsupportedGraph(ValueError):
    """The graph uses an operator this rebuilder does not know."""


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _opname(names: dict[int, str], model: Any, op: Any) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    # Old files keep the code in the deprecated int8 field; new ones in builtinCode.
    return names[max(int(code.builtinCode), int(code.deprecatedBuiltinCode))]


def _constants(path: Path, model: Any) -> dict[int, np.ndarray]:
    """Float values of every constant tensor (plain buffers, fp16 and sparse weights)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    g = model.subgraphs[0]
    names = _builtin_names()
    out: dict[int, np.ndarray] = {}
    for i, t in enumerate(g.tensors):
        buf = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        if buf is not None and len(buf) and t.sparsity is None:
            types = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
                     schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64}
            dtype = types.get(t.type)
            if dtype is not None:
                out[i] = np.frombuffer(bytes(buf), dtype=dtype).reshape(t.shape).astype(
                    np.float32 if dtype in (np.float32, np.float16) else dtype)
    weight_ops = [op for op in g.operators
                  if _opname(names, model, op) in ("DEQUANTIZE", "DENSIFY")]
    if weight_ops:
        from ai_edge_litert.interpreter import OpResolverType

        # Without the default XNNPACK delegate, which would fold the weights away.
        it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
        for op in weight_ops:
            idx = int(op.outputs[0])
            out[idx] = np.asarray(it.get_tensor(idx), dtype=np.float32)
    return out


def _act(code: int) -> str | None:
    return {0: None, 1: "relu", 3: "relu6"}.get(code, "unsupported")


def _head_convs(g: Any, names: dict[int, str], model: Any, tensor: int) -> set[int]:
    """Indices of the (depthwise) convolutions whose outputs reach `tensor` only through
    RESHAPE, DEPTH_TO_SPACE and CONCATENATION (the heads of a detector)."""
    producer = {int(o): k for k, op in enumerate(g.operators) for o in op.outputs}
    found: set[int] = set()
    stack = [tensor]
    while stack:
        k = producer.get(stack.pop())
        if k is None:
            continue
        op = g.operators[k]
        kind = _opname(names, model, op)
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            found.add(k)
        elif kind in ("RESHAPE", "DEPTH_TO_SPACE"):
            stack.append(int(op.inputs[0]))
        elif kind == "CONCATENATION":
            stack.extend(int(i) for i in op.inputs)
    return found


def rebuild_keras(path: Path, output_clip: dict[str, float] | None = None,
                  equalize_weights: bool = False, prelu_as_max_from: int = 0) -> Any:
    """Return a Keras model computing the same function as the float TFLite file.

    `output_clip` ({output name: c}) bounds an output to [-c, c] in a way full-int8
    conversion keeps precise: the head convolutions feeding it are scaled by 1/c and
    clipped to [-1, 1] (fused as RELU_N1_TO_1), and the output is multiplied by c.
    Without it, rare inputs (a uniform frame) stretch the calibrated range of a
    detector's logits to tens of thousands and int8 keeps no resolution near 0.
    `equalize_weights` applies cross-layer equalization (`quantize.equalize`) first.
    `prelu_as_max_from` > 0 rebuilds each PRELU whose input holds at least that many
    values as max(x, a * x) (see the PRELU case below).
    """
    import tensorflow as tf
    from ai_edge_litert import schema_py_generated as schema
    from tensorflow import keras

    model = schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    g = model.subgraphs[0]
    names = _builtin_names()
    consts = _constants(Path(path), model)
    if equalize_weights:
        from quantize.equalize import equalize

        equalize(g, [_opname(names, model, op) for op in g.operators], consts)
    L = keras.layers
    values: dict[int, Any] = {}
    inputs = []
    for i in g.inputs:
        t = g.tensors[i]
        inp = keras.Input(tuple(int(s) for s in t.shape[1:]), batch_size=1,
                          name=t.name.decode())
        values[int(i)] = inp
        inputs.append(inp)

    def activation(x: Any, code: int) -> Any:
        a = _act(code)
        if a == "unsupported":
            raise UnsupportedGraph(f"fused activation {code}")
        if a == "relu":
            return L.ReLU()(x)
        if a == "relu6":
            return L.ReLU(6.0)(x)
        return x

    clip_of_op: dict[int, float] = {}
    for o in g.outputs:
        c = (output_clip or {}).get(g.tensors[int(o)].name.decode())
        if c:
            for k in _head_convs(g, names, model, int(o)):
                clip_of_op[k] = float(c)
    for k_op, op in enumerate(g.operators):
        kind = _opname(names, model, op)
        ins = [int(i) for i in op.inputs]
        out_idx = int(op.outputs[0])
        opt = op.builtinOptions
        if kind in ("DEQUANTIZE", "DENSIFY"):
            if out_idx not in consts:
                raise UnsupportedGraph(f"{kind} of a non-constant tensor")
            continue
        x = values.get(ins[0])
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = consts[ins[1]]  # CONV_2D (O, H, W, I); DEPTHWISE (1, H, W, C * M)
            b = consts.get(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            pad = "same" if opt.padding == schema.Padding.SAME else "valid"
            common = {"strides": (opt.strideH, opt.strideW), "padding": pad,
                      "dilation_rate": (opt.dilationHFactor, opt.dilationWFactor),
                      "use_bias": b is not None}
            if kind == "CONV_2D":
                layer = L.Conv2D(w.shape[0], w.shape[1:3], name=f"op{k_op}_conv", **common)
                kernel = w.transpose(1, 2, 3, 0)
            else:
                c_in = int(g.tensors[ins[0]].shape[-1])
                mult = w.shape[3] // c_in
                layer = L.DepthwiseConv2D(w.shape[1:3], depth_multiplier=mult,
                                           name=f"op{k_op}_depthwise", **common)
                kernel = w[0].reshape(w.shape[1], w.shape[2], c_in, mult)
            y = layer(x)
            c = clip_of_op.get(k_op)
            if c is not None:  # a bounded detector head: scale by 1/c, clip to [-1, 1]
                if opt.fusedActivationFunction != 0:
                    raise UnsupportedGraph("output_clip on a head with an activation")
                kernel, b = kernel / c, (b / c if b is not None else None)
            layer.set_weights([kernel] + ([b] if b is not None else []))
            y = activation(y, opt.fusedActivationFunction)
            if c is not None:
                y = L.Lambda(lambda t: tf.clip_by_value(t, -1.0, 1.0), name=f"clip_{out_idx}")(y)
        elif kind == "ADD":
            if all(i in values for i in ins[:2]):
                y = L.Add()([values[ins[0]], values[ins[1]]])
            else:  # tensor + constant
                var, const = (ins[0], ins[1]) if ins[0] in values else (ins[1], ins[0])
                y = L.Lambda(lambda t, c=consts[const]: t + c, name=f"addc_{out_idx}")(values[var])
            y = activation(y, opt.fusedActivationFunction if opt is not None else 0)
        elif kind == "RELU":
            y = L.ReLU()(x)
        elif kind == "RELU6":
            y = L.ReLU(6.0)(x)
        elif kind == "PRELU":  # a learnt slope per channel (the face mesh)
            # XNNPACK has no int8 PRELU: each one leaves the delegate for the slow built-in
            # kernel (the int8 mesh ran 6.8 ms, ten times its float twin). On large tensors
            # it is rebuilt as max(x, a * x) (min(x, a * x) where a > 1, through a sign flip
            # of those channels), whose MAXIMUM and MUL XNNPACK runs in int8; that rounds
            # twice, so small tensors, where the built-in kernel costs little, keep PRELU.
            # (relu(x) - a * relu(-x) measured no faster than PRELU.)
            alpha = consts[ins[1]].reshape(-1).astype(np.float32)
            sign = np.where(alpha > 1.0, -1.0, 1.0).astype(np.float32)
            shape = g.tensors[ins[0]].shape
            if not prelu_as_max_from or int(np.prod(shape)) < prelu_as_max_from:
                layer = L.PReLU(shared_axes=list(range(1, len(shape) - 1)),
                                name=f"op{k_op}_prelu")
                y = layer(x)
                layer.set_weights([alpha.reshape(layer.get_weights()[0].shape)])
            elif (sign > 0).all():
                y = L.Lambda(lambda t, a=alpha: tf.maximum(t, t * a), name=f"op{k_op}_prelu")(x)
            else:
                y = L.Lambda(lambda t, a=alpha, s=sign: s * tf.maximum(s * t, (s * a) * t),
                             name=f"op{k_op}_prelu")(x)
        elif kind == "PAD":
            pads = consts[ins[1]].astype(int).tolist()
            y = L.Lambda(lambda t, p=pads: tf.pad(t, p), name=f"pad_{out_idx}")(x)
        elif kind == "MAX_POOL_2D":
            y = L.MaxPooling2D((opt.filterHeight, opt.filterWidth), (opt.strideH, opt.strideW),
                               padding="same" if opt.padding == schema.Padding.SAME else "valid")(x)
            y = activation(y, opt.fusedActivationFunction)
        elif kind == "RESHAPE":
            shape = [int(s) for s in g.tensors[out_idx].shape]
            y = L.Reshape(tuple(shape[1:]))(x)
        elif kind == "CONCATENATION":
            axis = int(opt.axis)
            y = L.Concatenate(axis=axis)([values[i] for i in ins])
            y = activation(y, opt.fusedActivationFunction)
        elif kind == "RESIZE_BILINEAR":
            size = consts[ins[1]].astype(int).tolist()
            align, half = bool(opt.alignCorners), bool(opt.halfPixelCenters)
            y = L.Lambda(lambda t, s=size, a=align, h=half: tf.compat.v1.image.resize_bilinear(
                t, s, align_corners=a, half_pixel_centers=h), name=f"resize_{out_idx}")(x)
        elif kind == "DEPTH_TO_SPACE":
            bs = int(opt.blockSize)
            y = L.Lambda(lambda t, b=bs: tf.nn.depth_to_space(t, b), name=f"d2s_{out_idx}")(x)
        else:
            raise UnsupportedGraph(f"operator {kind} is not supported")
        values[out_idx] = y
    out_names = [g.tensors[int(i)].name.decode() for i in g.outputs]
    outputs = []
    for i, n in zip(g.outputs, out_names, strict=True):
        c = (output_clip or {}).get(n)
        y = values[int(i)]
        outputs.append(L.Lambda(lambda t, c=c: t * c, name=f"scale_{n}")(y) if c else y)
    named = [L.Identity(name=n)(o) for n, o in zip(out_names, outputs, strict=True)]
    return keras.Model(inputs, named, name=Path(path).stem)
