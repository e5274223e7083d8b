"""Microphone back-ends, chosen by `[microphone] backend` from one table.

A new back-end is one file here (its settings class, a subclass of
`MicrophoneSettings`, and its source) plus one row.
"""

from __future__ import annotations

from edge.sources.base import Backend, BackendTable
from edge.sources.microphone.file import AudioFileSource, FileMicrophoneSettings
from edge.sources.microphone.portaudio import PyAudioMicrophone, PyAudioSettings

MICROPHONES = BackendTable("microphone", "affectd.microphones", [
    Backend("pyaudio", PyAudioSettings, PyAudioMicrophone),
    Backend("file", FileMicrophoneSettings, AudioFileSource, stands_in="a recording"),
])

__all__ = ["MICROPHONES"]
