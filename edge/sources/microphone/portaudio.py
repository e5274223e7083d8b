"""Microphone back-end "pyaudio": a PortAudio input device through PyAudio.

It delivers 16 kHz mono float32 chunks (other device rates are resampled). An
overrun is counted in `overruns` and the read goes on
(`exception_on_overflow=False`): the pipeline never blocks on the microphone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.dsp import Resampler
from edge.messages import AudioChunk, SourceItem
from edge.settings import MicrophoneSettings
from edge.sources.base import Source, SourceError
from edge.sources.microphone.rate import ANALYSIS_RATE


@dataclass(frozen=True)
class PyAudioSettings(MicrophoneSettings):
    device: str = ""
    """PyAudio device name substring or index; empty for the default input."""
    sample_rate: int = field(default=16000, metadata={"min": 8000, "max": 192000})
    """Capture rate; audio is resampled to 16 kHz mono for analysis."""


class PyAudioMicrophone(Source[PyAudioSettings]):
    """A PortAudio input device, read in `chunk_s` blocks, overruns counted."""

    name = "microphone:pyaudio"
    modality = "voice"

    def __init__(self, settings: PyAudioSettings) -> None:
        super().__init__(settings)
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
