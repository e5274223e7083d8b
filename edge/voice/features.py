"""Speech features in numpy: log-mel spectrogram (Slaney mel scale, matching
librosa's defaults for the same parameters) and frame energy.

16 kHz audio, 25 ms Hann window (400 samples, zero-padded to a 512-point FFT),
10 ms hop, 64 mel bands from 0 to 8 kHz, power spectrum, natural log with a
1e-6 floor. Frames are centred with zero padding, as librosa (>= 0.10) does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

SR = 16000
N_FFT = 512
WIN = 400
HOP = 160
N_MELS = 64


def hz_to_mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    f = np.asarray(f, np.float64)
    lin = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, lin)


def mel_to_hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The inverse of `hz_to_mel`."""
    m = np.asarray(m, np.float64)
    lin = m * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log_part, lin)


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SR, n_fft: int = N_FFT,
                   n_mels: int = N_MELS) -> npt.NDArray[np.float32]:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised triangular filters (librosa's default)."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mels = np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sr / 2.0)), n_mels + 2)
    hz = mel_to_hz(mels)
    fb = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, c, hi = hz[i], hz[i + 1], hz[i + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[i] = np.maximum(0, np.minimum(up, down))
    fb *= (2.0 / (hz[2:n_mels + 2] - hz[:n_mels]))[:, None]
    return fb.astype(np.float32)


@lru_cache(maxsize=2)
def _window() -> npt.NDArray[np.float32]:
    w = np.zeros(N_FFT, np.float32)
    off = (N_FFT - WIN) // 2
    w[off:off + WIN] = np.hanning(WIN + 1)[:-1]  # periodic Hann, centred in the FFT frame
    return w


def power_spectrogram(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(frames, n_fft // 2 + 1) power spectrum of centred frames."""
    x = np.asarray(x, np.float32)
    pad = N_FFT // 2
    if x.size <= pad:
        x = np.pad(x, (0, pad + 1 - x.size))
    y = np.pad(x, pad, mode="constant")
    n = 1 + (y.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    frames = y[idx] * _window()
    spec = np.fft.rfft(frames, axis=1)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def log_mel(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(frames, 64) natural-log mel energies."""
    return log_mel_of_power(power_spectrogram(x))


def log_mel_of_power(power: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """`log_mel` from an already computed `power_spectrogram`."""
    mel = power @ mel_filterbank().T
    return np.log(np.maximum(mel, 1e-6)).astype(np.float32)


def normalise(lm: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Per-utterance mean removal per band (cancels channel and speaker spectral tilt)."""
    return (lm - lm.mean(axis=0, keepdims=True)).astype(np.float32)


def fit_frames(lm: npt.NDArray[np.float32], frames: int) -> npt.NDArray[np.float32]:
    """Centre-crop or zero-pad (after normalisation) to a fixed number of frames."""
    if lm.shape[0] >= frames:
        o = (lm.shape[0] - frames) // 2
        return lm[o:o + frames]
    out = np.zeros((frames, lm.shape[1]), np.float32)
    o = (frames - lm.shape[0]) // 2
    out[o:o + lm.shape[0]] = lm
    return out
