"""Cross-layer equalization of convolution weights before int8 conversion.

Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
Correction" (ICCV 2019): when a convolution's output channel c feeds the next
convolution only through a positively homogeneous activation (none or ReLU),
dividing channel c of the first layer (weights and bias) by s_c and multiplying
input channel c of the second by s_c computes exactly the same function.
Choosing s_c = sqrt(r1_c / r2_c), with r the per-channel weight ranges, gives
both layers the range sqrt(r1_c r2_c) in that channel, so one scale per tensor
quantizes them almost as well as one per channel: the depthwise layers of
MobileNet-style detectors are the classic case, where a few channels with
large weights otherwise take all of the int8 range.

Works on the float TFLite graph (the `ModelT` and constant arrays that
`quantize.graph.rebuild_keras` reads) before the Keras model is built from it.
Not a maintained library's job: neither the TFLite converter nor
ai-edge-quantizer offers equalization for TFLite graphs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_HOMOGENEOUS = (0, 1)  # fused activation NONE, RELU: f(s x) = s f(x) for s > 0


def _pairs(g: Any, kinds: list[str]) -> list[tuple[int, int]]:
    """(producer, consumer) convolution pairs joined by one tensor that nothing else reads
    and that is not a graph output."""
    readers: dict[int, list[int]] = {}
    for k, op in enumerate(g.operators):
        for i in op.inputs:
            readers.setdefault(int(i), []).append(k)
    outputs = {int(o) for o in g.outputs}
    pairs = []
    for k, op in enumerate(g.operators):
        if kinds[k] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        if op.builtinOptions.fusedActivationFunction not in _HOMOGENEOUS:
            continue
        out = int(op.outputs[0])
        users = readers.get(out, [])
        if out in outputs or len(users) != 1:
            continue
        nxt = users[0]
        conv = kinds[nxt] in ("CONV_2D", "DEPTHWISE_CONV_2D")
        if conv and int(g.operators[nxt].inputs[0]) == out:
            pairs.append((k, nxt))
    return pairs


def _depthwise_mult(g: Any, op: Any, w: np.ndarray) -> int:
    return int(w.shape[3]) // int(g.tensors[int(op.inputs[0])].shape[-1])


def equalize(g: Any, kinds: list[str], consts: dict[int, np.ndarray],
             iterations: int = 4) -> int:
    """Equalize every eligible pair in place (arrays in `consts` are replaced); returns
    the number of pairs. TFLite layouts: CONV_2D (O, H, W, I), DEPTHWISE (1, H, W, C*M)."""
    pairs = []
    for a, b in _pairs(g, kinds):
        op_a, op_b = g.operators[a], g.operators[b]
        ka, kb = int(op_a.inputs[1]), int(op_b.inputs[1])
        if ka not in consts or kb not in consts:
            continue
        if kinds[b] == "DEPTHWISE_CONV_2D" and _depthwise_mult(g, op_b, consts[kb]) != 1:
            continue
        if kinds[a] == "DEPTHWISE_CONV_2D" and _depthwise_mult(g, op_a, consts[ka]) != 1:
            continue
        pairs.append((a, b))
    for _ in range(iterations):
        for a, b in pairs:
            op_a, op_b = g.operators[a], g.operators[b]
            ia, ib = int(op_a.inputs[1]), int(op_b.inputs[1])
            wa, wb = consts[ia].astype(np.float64), consts[ib].astype(np.float64)
            # range of each output channel of A / input channel of B
            if kinds[a] == "CONV_2D":
                r1 = np.abs(wa).reshape(wa.shape[0], -1).max(1)
            else:
                r1 = np.abs(wa).reshape(-1, wa.shape[3]).max(0)
            if kinds[b] == "CONV_2D":
                r2 = np.abs(wb).reshape(-1, wb.shape[3]).max(0)
            else:
                r2 = np.abs(wb).reshape(-1, wb.shape[3]).max(0)
            ok = (r1 > 1e-12) & (r2 > 1e-12)
            s = np.ones_like(r1)
            s[ok] = np.sqrt(r1[ok] / r2[ok])
            if kinds[a] == "CONV_2D":
                wa = wa / s[:, None, None, None]
            else:
                wa = wa / s[None, None, None, :]
            wb = wb * s[None, None, None, :]
            consts[ia], consts[ib] = wa.astype(np.float32), wb.astype(np.float32)
            if len(op_a.inputs) > 2 and int(op_a.inputs[2]) >= 0 and int(op_a.inputs[2]) in consts:
                bi = int(op_a.inputs[2])
                consts[bi] = (consts[bi].astype(np.float64) / s).astype(np.float32)
    return len(pairs)
