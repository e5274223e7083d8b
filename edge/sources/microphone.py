"""Microphone sources: PyAudio (PortAudio) devices and WAV/FLAC file replay.

Both deliver 16 kHz mono float32 chunks; other device rates are resampled with
`edge.dsp.Resampler` (the FIR of scipy's `resample_poly`, streaming). A PyAudio
overrun is counted in `overruns` and the read goes on
(`exception_on_overflow=False`): the pipeline never blocks on the microphone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edge.dsp import Resampler
from edge.messages import AudioChunk, SourceItem
from edge.settings import MicrophoneSettings
from edge.sources.base import EndOfStream, Pacer, Source, SourceError

ANALYSIS_RATE = 16000


def to_analysis_rate(x: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    """Resample mono float audio from `rate` to 16 kHz."""
    if rate == ANALYSIS_RATE:
        return x.astype(np.float32, copy=False)
    r = Resampler(rate, ANALYSIS_RATE)
    return np.concatenate([r(x), r.flush()]).astype(np.float32)


class PyAudioMicrophone(Source):
    name = "microphone:pyaudio"
    modality = "voice"

    def __init__(self, settings: MicrophoneSettings) -> None:
        super().__init__()
        self.settings = settings
        self._pa: Any = None
        self._stream: Any = None
        self._frames = max(1, int(settings.sample_rate * settings.chunk_s))
        self._resample: Resampler | None = None
        self.overruns = 0

    def _find_device(self, pa: Any) -> int | None:
        want = self.settings.device
        if not want:
            return None
        if want.isdigit():
            return int(want)
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            if want.lower() in str(info.get("name", "")).lower() and info.get("maxInputChannels"):
                return i
        raise SourceError(f"{self.name}: no input device matching {want!r}")

    def open(self) -> None:
        try:
            import pyaudio
        except ImportError as exc:
            raise SourceError(f"{self.name}: pyaudio is not installed ({exc})") from None
        pa = pyaudio.PyAudio()
        try:
            self._stream = pa.open(format=pyaudio.paInt16, channels=1,
                                   rate=self.settings.sample_rate, input=True,
                                   input_device_index=self._find_device(pa),
                                   frames_per_buffer=self._frames)
        except (OSError, ValueError) as exc:
            pa.terminate()
            raise SourceError(f"{self.name}: cannot open input ({exc})") from None
        except SourceError:
            pa.terminate()  # every retry while the device is unplugged would leak one
            raise
        self._pa = pa
        rate = self.settings.sample_rate  # a stateful resampler: no seams between chunks
        self._resample = Resampler(rate, ANALYSIS_RATE) if rate != ANALYSIS_RATE else None

    def read(self) -> list[SourceItem]:
        import time

        try:
            avail = self._stream.get_read_available()
            if avail > 4 * self._frames:
                self.overruns += 1  # we fell behind: drop the backlog, keep it live
                self._stream.read(avail - self._frames, exception_on_overflow=False)
            raw = self._stream.read(self._frames, exception_on_overflow=False)
        except OSError as exc:
            raise SourceError(f"{self.name}: read failed ({exc})") from None
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        if self._resample is not None:
            x = self._resample(x).astype(np.float32)
        return [AudioChunk(time.monotonic(), x, ANALYSIS_RATE)]

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop_stream()
                self._stream.close()
            finally:
                self._stream = None
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None


class AudioFileSource(Source):
    """A WAV/FLAC file (soundfile) replayed chunk by chunk in media time."""

    name = "microphone:file"
    modality = "voice"

    def __init__(self, settings: MicrophoneSettings) -> None:
        super().__init__()
        self.settings = settings
        self._audio: npt.NDArray[np.float32] = np.zeros(0, np.float32)
        self._pos = 0
        self._pacer = Pacer(settings.realtime, self.stop_event)

    def open(self) -> None:
        import soundfile as sf

        assert self.settings.path is not None
        try:
            data, rate = sf.read(str(self.settings.path), dtype="float32", always_2d=True)
        except (RuntimeError, OSError, sf.LibsndfileError) as exc:
            raise SourceError(f"{self.name}: cannot decode {self.settings.path} ({exc})") from None
        if data.shape[0] == 0:
            raise SourceError(f"{self.name}: {self.settings.path} has no samples")
        self._audio = to_analysis_rate(data.mean(axis=1), int(rate))
        self._pos = 0
        self._pacer.restart()

    def read(self) -> list[SourceItem]:
        n = int(ANALYSIS_RATE * self.settings.chunk_s)
        if self._pos >= self._audio.size:
            if not self.settings.loop:
                raise EndOfStream
            self._pos = 0
            self._pacer.restart()
        part = self._audio[self._pos:self._pos + n]
        self._pos += part.size
        now = self._pacer.wait(self._pos / ANALYSIS_RATE)
        return [AudioChunk(now, part.copy(), ANALYSIS_RATE)]

    def close(self) -> None:
        self._audio = np.zeros(0, np.float32)


def open_microphone(settings: MicrophoneSettings) -> Source:
    if settings.backend == "file":
        return AudioFileSource(settings)
    return PyAudioMicrophone(settings)
