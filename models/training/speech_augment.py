"""Rooms, noise and channels for the speech-emotion training: each degraded copy of a
clip sounds as it would at a distance in a room, with a TV, music, an appliance or
other people talking, through a phone line or a lossy codec.

- Rooms: shoebox rooms simulated with pyroomacoustics (image-source method; a
  maintained simulator, not our own), 3-9 m wide, RT60 0.2-0.9 s, the talker 0.5-4 m
  from the microphone. A bank of impulse responses is drawn once per seed and kept in
  the cache (they are ours, computed; no data).
- Noise at 0-20 dB SNR: white/pink/brown noise, babble of 3-6 other training speakers,
  and the real non-speech pieces of `../shared/data/nonspeech/` (music, household,
  environment, baby cries; singing too — a voice in the room is not the talker).
- Channels: level -20..+6 dB with clipping, telephone band (300-3400 Hz at 8 kHz with
  8-bit mu-law), speed 0.9-1.1 (resampling: pitch and tempo together).

Used only by the training wing (numpy, scipy, pyroomacoustics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
SR = 16000


def room_impulses(n: int, seed: int) -> list[tuple[F32, float, float]]:
    """`n` (impulse response, distance m, RT60 s) of random shoebox rooms."""
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    out: list[tuple[F32, float, float]] = []
    while len(out) < n:
        dim = np.array([rng.uniform(3, 9), rng.uniform(3, 7), rng.uniform(2.4, 3.2)])
        rt60 = float(rng.uniform(0.2, 0.9))
        try:
            absorption, order = pra.inverse_sabine(rt60, dim)
        except ValueError:  # a room too large for that RT60
            continue
        dist = float(rng.uniform(0.5, 4.0))
        mic = np.array([rng.uniform(0.5, dim[0] - 0.5), rng.uniform(0.5, dim[1] - 0.5),
                        rng.uniform(0.8, 1.6)])
        ang = rng.uniform(0, 2 * np.pi)
        src = mic + np.array([dist * np.cos(ang), dist * np.sin(ang), rng.uniform(-0.3, 0.4)])
        if np.any(src[:2] < 0.3) or np.any(src[:2] > dim[:2] - 0.3):
            continue
        room = pra.ShoeBox(dim, fs=SR, materials=pra.Material(absorption),
                           max_order=int(min(order, 30)))
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        h = np.asarray(room.rir[0][0], np.float64)
        h = h[: int(SR * min(1.2, 1.5 * rt60))]
        out.append(((h / np.abs(h).max()).astype(np.float32), dist, rt60))
    return out


def coloured_noise(n: int, rng: np.random.Generator) -> F32:
    """White, pink (1/f) or brown (1/f^2) noise of `n` samples, unit RMS."""
    kind = int(rng.integers(3))
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
    spec = spec / f ** (0.5 * kind)
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def load_nonspeech(root: Path) -> list[F32]:
    """Every piece under `root` (the shared non-speech folders), 16 kHz mono."""
    import soundfile as sf

    pieces = []
    for p in sorted(root.glob("*/*.flac")):
        x, sr = sf.read(str(p), dtype="float32", always_2d=True)
        if sr == SR and x.shape[0] > SR // 2:
            pieces.append(x.mean(axis=1))
    if not pieces:
        raise FileNotFoundError(f"no 16 kHz non-speech pieces under {root}")
    return pieces


def fit_length(noise: F32, n: int, rng: np.random.Generator) -> F32:
    """A random stretch of `noise` looped to `n` samples."""
    if noise.size < n:
        noise = np.tile(noise, n // noise.size + 1)
    o = int(rng.integers(0, noise.size - n + 1))
    return noise[o:o + n]


def add_at_snr(x: F32, noise: F32, snr_db: float) -> F32:
    px = float(np.mean(x ** 2)) + 1e-12
    pn = float(np.mean(noise ** 2)) + 1e-12
    return (x + noise * np.sqrt(px / pn / 10 ** (snr_db / 10))).astype(np.float32)


def telephone(x: F32) -> F32:
    """300-3400 Hz at 8 kHz, 8-bit mu-law, back to 16 kHz."""
    from scipy.signal import butter, resample_poly, sosfilt

    y = resample_poly(x, 1, 2)
    y = sosfilt(butter(4, [300, 3400], btype="band", fs=8000, output="sos"), y)
    peak = np.abs(y).max() + 1e-9
    mu = 255.0
    c = np.sign(y / peak) * np.log1p(mu * np.abs(y / peak)) / np.log1p(mu)
    c = np.round(c * 127) / 127
    y = np.sign(c) * np.expm1(np.abs(c) * np.log1p(mu)) / mu * peak
    return resample_poly(y, 2, 1).astype(np.float32)


@dataclass
class Degrader:
    """Draws one degraded copy of a clip; `babble` holds other speakers' clips."""

    rooms: list[tuple[F32, float, float]]
    nonspeech: list[F32]
    babble: list[F32]
    rng: np.random.Generator
    last: dict[str, float] = field(default_factory=dict)
    """What the last call applied (for the log and per-condition reports)."""

    def __call__(self, x: F32) -> F32:
        from scipy.signal import fftconvolve, resample_poly

        rng, info = self.rng, {}
        if rng.random() < 0.3:
            up = int(rng.choice([9, 10, 11]))
            x = resample_poly(x, 10, up).astype(np.float32)
            info["speed"] = 10 / up
        if rng.random() < 0.6:
            h, dist, rt60 = self.rooms[int(rng.integers(len(self.rooms)))]
            x = fftconvolve(x, h)[: x.size].astype(np.float32)
            info["distance_m"], info["rt60_s"] = dist, rt60
        if rng.random() < 0.8:
            kind = rng.random()
            if kind < 0.5:
                noise = fit_length(self.nonspeech[int(rng.integers(len(self.nonspeech)))],
                                   x.size, rng)
            elif kind < 0.75:
                k = int(rng.integers(3, 7))
                noise = sum(fit_length(self.babble[int(j)], x.size, rng)
                            / (np.sqrt(np.mean(self.babble[int(j)] ** 2)) + 1e-9)
                            for j in rng.choice(len(self.babble), k, replace=False))
                noise = np.asarray(noise, np.float32)
            else:
                noise = coloured_noise(x.size, rng)
            snr = float(rng.uniform(0, 20))
            x = add_at_snr(x, noise, snr)
            info["snr_db"] = snr
        if rng.random() < 0.15:
            x = telephone(x)
            info["telephone"] = 1.0
        gain = 10 ** (rng.uniform(-20, 6) / 20)
        x = np.clip(x * gain, -1.0, 1.0).astype(np.float32)
        self.last = info
        return x
