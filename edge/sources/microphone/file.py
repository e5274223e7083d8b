"""Microphone back-end "file": a WAV/FLAC file (soundfile) replayed chunk by chunk in
media time, as 16 kHz mono float32."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.messages import AudioChunk, SourceItem
from edge.settings import MicrophoneSettings
from edge.sources.base import EndOfStream, FileKeys, Pacer, Source, SourceError
from edge.sources.microphone.rate import ANALYSIS_RATE, to_analysis_rate


@dataclass(frozen=True)
class FileMicrophoneSettings(FileKeys, MicrophoneSettings):
    """[microphone] keys of backend "file": `path`, `realtime`, `loop`."""


class AudioFileSource(Source[FileMicrophoneSettings]):
    """A WAV/FLAC file (soundfile) replayed chunk by chunk in media time."""

    name = "microphone:file"
    modality = "voice"

    def __init__(self, settings: FileMicrophoneSettings) -> None:
        super().__init__(settings)
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

    @property
    def position_s(self) -> float:
        """Media time replayed so far (end of the last chunk read)."""
        return self._pos / ANALYSIS_RATE

    @property
    def item_time_s(self) -> float:
        """Media time of the last chunk: its end."""
        return self._pos / ANALYSIS_RATE

    def close(self) -> None:
        self._audio = np.zeros(0, np.float32)
