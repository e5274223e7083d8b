"""One inference class over LiteRT: `ai_edge_litert`, else `tflite_runtime`.

`TFLiteModel` loads a `.tflite` with a thread count on XNNPACK (LiteRT's
default CPU delegate, which runs both float and int8 kernels: the one delegate
affectd supports; README "Accelerators"), quantizes float inputs and
dequantizes outputs at the edges using the tensors' own scale and zero point,
and times every invoke.

Once XNNPACK has packed a model's weights into its own buffers, the model file
LiteRT mapped into memory is not read again; `release_mapped_file` hands those
pages back (they stay in the page cache and fault back in on demand if read), so a
loaded model costs its packed weights once instead of twice in RSS.
"""

from __future__ import annotations

import ctypes
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def interpreter_class() -> tuple[Any, str]:
    """(Interpreter class, runtime name)."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        from tflite_runtime.interpreter import (  # type: ignore[no-redef,unused-ignore]
            Interpreter,
        )

        return Interpreter, "tflite_runtime"


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype in ("int8", "uint8", "int16")


def _info(d: dict[str, Any]) -> TensorInfo:
    scale, zp = d.get("quantization", (0.0, 0))
    return TensorInfo(d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name,
                      float(scale), int(zp))


_MADV_DONTNEED = 4  # Linux <sys/mman.h>, the same value on x86_64 and arm64


def release_mapped_file(path: Path) -> int:
    """Drop this process's resident pages of every read-only mapping of `path` (Linux
    `madvise(MADV_DONTNEED)`; nothing elsewhere). Returns the bytes of mappings
    released. Safe for read-only file mappings: the data stays in the file and the page
    cache, and a later read faults it back in. Python's `mmap` cannot do this for a
    mapping it did not create (LiteRT's own), so it is done through libc."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return 0
    target = str(Path(path).resolve())
    madvise = ctypes.CDLL(None, use_errno=True).madvise  # libc, already in the process
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    released = 0
    for line in maps.read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or fields[5] != target or "w" in fields[1]:
            continue
        start, end = (int(v, 16) for v in fields[0].split("-"))
        if madvise(start, end - start, _MADV_DONTNEED) == 0:
            released += end - start
    return released


class TFLiteModel:
    """A loaded model; `run(x)` takes and returns float arrays whatever the I/O types."""

    def __init__(self, path: Path, threads: int = 2) -> None:
        interpreter, self.runtime = interpreter_class()
        self.path = Path(path)
        self.threads = threads
        self._it = interpreter(model_path=str(path), num_threads=threads)
        self._it.allocate_tensors()  # XNNPACK packs the weights here
        self.released_bytes = release_mapped_file(self.path)
        """Bytes of the mapped model file handed back after packing (0 off Linux)."""
        self._in = self._it.get_input_details()
        self._out = self._it.get_output_details()
        self.inputs = [_info(d) for d in self._in]
        self.outputs = [_info(d) for d in self._out]
        self.latencies_ms: deque[float] = deque(maxlen=256)

    def pixel_table(self, to_float: Any, index: int = 0) -> npt.NDArray[Any] | None:
        """A 256-entry table mapping uint8 pixels straight to this model's input values
        (`to_float`: the float preprocessing, e.g. p / 127.5 - 1). None for float inputs.
        Indexing an image with it replaces convert-to-float-then-quantize per frame."""
        info = self.inputs[index]
        if not info.quantized:
            return None
        levels = np.asarray(to_float(np.arange(256, dtype=np.float32)), np.float32)
        return self._quantize(levels, info)

    def _quantize(self, x: npt.NDArray[Any], info: TensorInfo) -> npt.NDArray[Any]:
        if info.quantized and x.dtype != np.dtype(info.dtype):
            q = np.round(x / info.scale + info.zero_point)
            lim = np.iinfo(np.dtype(info.dtype))
            return np.clip(q, lim.min, lim.max).astype(info.dtype)
        return x.astype(info.dtype, copy=False)

    def run(self, *xs: npt.NDArray[Any]) -> list[npt.NDArray[np.float32]]:
        """Invoke on float (or already quantized) inputs; return float outputs."""
        for d, info, x in zip(self._in, self.inputs, xs, strict=True):
            self._it.set_tensor(d["index"], self._quantize(np.asarray(x), info))
        t0 = time.perf_counter()
        self._it.invoke()
        self.latencies_ms.append((time.perf_counter() - t0) * 1e3)
        outs = []
        for d, info in zip(self._out, self.outputs, strict=True):
            y = self._it.get_tensor(d["index"])
            if info.quantized:
                y = (y.astype(np.float32) - info.zero_point) * info.scale
            outs.append(y.astype(np.float32, copy=False))
        return outs

    @property
    def last_ms(self) -> float:
        return self.latencies_ms[-1] if self.latencies_ms else 0.0


def time_model(path: Path, threads: int, runs: int = 50, warmup: int = 5) -> float:
    """Median invoke latency in ms on random inputs (for reports and `affectd bench`)."""
    m = TFLiteModel(path, threads)
    rng = np.random.default_rng(0)
    xs = []
    for info in m.inputs:
        if info.quantized:
            lim = np.iinfo(np.dtype(info.dtype))
            xs.append(rng.integers(lim.min, lim.max, info.shape).astype(info.dtype))
        else:
            xs.append(rng.uniform(-1, 1, info.shape).astype(info.dtype))
    for _ in range(warmup):
        m.run(*xs)
    m.latencies_ms.clear()
    for _ in range(runs):
        m.run(*xs)
    return float(np.median(m.latencies_ms))
