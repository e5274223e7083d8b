"""The PyAudio microphone for real, through ALSA: a PCM defined with ALSA's `file`
plugin in a temporary ~/.asoundrc plays a raw file as capture data, PortAudio
lists it as an input device, and the source reads, resamples and analyses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import alsa_home

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("pyaudio", reason="pyaudio not installed (script/test installs it)")

READER = r'''
import json, sys
import numpy as np
from edge.messages import AudioChunk
from edge.settings import MicrophoneSettings
from edge.sources.microphone.portaudio import PyAudioMicrophone, PyAudioSettings
rate, seconds, analyse = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
src = PyAudioMicrophone(PyAudioSettings(backend="pyaudio", device="affectd_test",
                                           sample_rate=rate, chunk_s=0.1))
src.open()
chunks = []
while sum(c.samples.size for c in chunks) < seconds * 16000:
    chunks += src.read()
src.close()
x = np.concatenate([c.samples for c in chunks])
out = {"n": int(x.size), "peak": float(np.abs(x).max()),
       "f0": float(np.argmax(np.abs(np.fft.rfft(x))) * 16000 / x.size),
       "rates": sorted({c.sample_rate for c in chunks})}
if analyse:
    from edge.voice.analyzer import VoiceAnalyzer
    an = VoiceAnalyzer(threads=1)
    est = [e for c in chunks for e in an.process(c)]
    out["estimates"] = len(est)
    out["probs_ok"] = all(abs(sum(e.probs) - 1) < 1e-3 for e in est)
print("RESULT " + json.dumps(out))
'''


def read(tmp_path: Path, pcm: np.ndarray, rate: int, seconds: float,
         analyse: bool = False) -> dict:
    res = subprocess.run([sys.executable, "-c", READER, str(rate), str(seconds),
                          "1" if analyse else "0"], capture_output=True, text=True,
                         env=alsa_home(tmp_path, pcm), timeout=120, cwd=ROOT)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, res.stderr[-2000:]
    return json.loads(line.removeprefix("RESULT "))


def test_pyaudio_reads_a_16k_device(tmp_path: Path) -> None:
    t = np.arange(16000 * 3) / 16000
    r = read(tmp_path, 0.3 * np.sin(2 * np.pi * 440 * t), 16000, 2.0)
    assert r["n"] >= 32000 and abs(r["f0"] - 440) < 2 and 0.29 < r["peak"] < 0.31
    assert r["rates"] == [16000]


def test_pyaudio_resamples_a_44k_device_to_16k(tmp_path: Path) -> None:
    t = np.arange(44100 * 3) / 44100
    r = read(tmp_path, 0.3 * np.sin(2 * np.pi * 1000 * t), 44100, 2.0)
    assert abs(r["f0"] - 1000) < 2 and r["rates"] == [16000]


def test_voice_path_on_the_alsa_microphone(tmp_path: Path) -> None:
    import soundfile as sf

    from edge.lab.demo import demo_speech

    speech, rate = sf.read(demo_speech(), dtype="float32")
    assert rate == 16000
    r = read(tmp_path, speech, 16000, speech.size / 16000 - 0.5, analyse=True)
    assert r["estimates"] >= 3 and r["probs_ok"]
