"""Dataset access for training: locations come from AFFECTD_DATA and AFFECTD_CACHE.

Nothing here is ever written into the repository: extracted archives and
decoded arrays live in the cache directory (default ~/.cache/affectd).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

FER_LABELS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def data_root() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return Path(os.environ.get("AFFECTD_DATA", default))


def cache_root() -> Path:
    root = Path(os.environ.get("AFFECTD_CACHE", Path.home() / ".cache" / "affectd"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def fer2013_dir() -> Path:
    """Extract fer2013.tar into the cache once; return the folder holding train/ and val/."""
    out = cache_root() / "fer2013"
    if not (out / "fer2013" / "val").is_dir():
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(data_root() / "face" / "fer2013.tar") as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+ (Bookworm has 3.11.2)
                tar.extractall(out, filter="data")
            else:  # our own archive in ../shared, members checked by hand
                members = [m for m in tar.getmembers() if (m.isfile() or m.isdir())
                           and not m.name.startswith(("/", "..")) and ".." not in m.name.split("/")]
                tar.extractall(out, members=members)
    return out / "fer2013"


def load_fer_split(split: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Images (N, 48, 48) uint8 and labels (N,) in FER_LABELS order, cached as .npz."""
    cached = cache_root() / f"fer2013_{split}.npz"
    if cached.exists():
        z = np.load(cached)
        return z["x"], z["y"]
    import cv2

    xs, ys = [], []
    for li, label in enumerate(FER_LABELS):
        for p in sorted((fer2013_dir() / split / label).glob("*")):
            img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if img is None:
                continue
            if img.shape != (48, 48):
                img = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
            xs.append(img)
            ys.append(li)
    x, y = np.stack(xs).astype(np.uint8), np.array(ys, dtype=np.int64)
    np.savez(cached, x=x, y=y)
    return x, y


def float_model_path(model_id: str) -> Path:
    """Where `build` leaves the float TFLite twin of a model (cache, never the repo)."""
    d = cache_root() / "float_models"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{model_id}.tflite"
