"""Sources: real video and audio files, still images, corrupt input, frame-rate cap,
and the pipeline restarting a failed source with backoff while the others run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.fusion import LateFusion
from edge.physio.analyzer import PhysioAnalyzer
from edge.pipeline import Pipeline
from edge.settings import (
    FusionSettings,
    RuntimeSettings,
)
from edge.sources.base import EndOfStream, SourceError
from edge.sources.camera.file import FileCameraSettings, VideoFileSource
from edge.sources.microphone.file import AudioFileSource, FileMicrophoneSettings
from edge.sources.wearable.neurokit_csv import NeuroKitCsvSettings, NeuroKitCsvSource
from edge.sources.wearable.synthetic import SyntheticPhysioSource, SyntheticSettings


def drain(src: VideoFileSource | AudioFileSource, limit: int = 10000) -> list[object]:
    out: list[object] = []
    src.open()
    try:
        for _ in range(limit):
            out += src.read()
    except EndOfStream:
        pass
    finally:
        src.close()
    return out


def test_video_file_frames_and_cap(shared_data: Path) -> None:
    path = shared_data / "video" / "liveportrait_d0.mp4"  # 78 frames at 25 fps
    full = drain(VideoFileSource(FileCameraSettings(backend="file", path=path, fps=30.0,
                                                realtime=False, loop=False)))
    assert len(full) == 78
    capped_src = VideoFileSource(FileCameraSettings(backend="file", path=path, fps=12.5,
                                                realtime=False, loop=False))
    capped = drain(capped_src)
    assert len(capped) == 39 and capped_src.capped == 39
    frame = full[0]
    assert frame.image.shape == (512, 512, 3) and frame.image.dtype == np.uint8  # type: ignore[attr-defined]


def test_still_image_is_one_frame(shared_data: Path) -> None:
    path = shared_data / "face" / "samples" / "multi_face.jpg"
    frames = drain(VideoFileSource(FileCameraSettings(backend="file", path=path, realtime=False,
                                                  loop=False)))
    assert len(frames) == 1


def test_corrupt_video_and_image_raise_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    img = tmp_path / "broken.jpg"
    img.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for path in (bad, img):
        src = VideoFileSource(FileCameraSettings(backend="file", path=path, realtime=False))
        with pytest.raises(SourceError):
            src.open()
            src.read()


def test_audio_file_resampled_to_16k(tmp_path: Path) -> None:
    t = np.arange(44100 * 2) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([tone, tone], axis=1), 44100)
    chunks = drain(AudioFileSource(FileMicrophoneSettings(backend="file", path=path,
                                                      realtime=False, loop=False)))
    audio = np.concatenate([c.samples for c in chunks])  # type: ignore[attr-defined]
    assert abs(audio.size - 32000) <= 2
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / audio.size - 440) < 2


def test_corrupt_audio_raises_source_error(tmp_path: Path) -> None:
    path = tmp_path / "x.flac"
    path.write_bytes(b"fLaC" + bytes(100))
    src = AudioFileSource(FileMicrophoneSettings(backend="file", path=path))
    with pytest.raises(SourceError):
        src.open()


def test_csv_replay_counts_bad_cells(tmp_path: Path) -> None:
    path = tmp_path / "rec.csv"
    rows = ["ECG,EDA"] + [f"{np.sin(i / 10):.3f},{2 + i / 1000:.3f}" for i in range(400)]
    rows[50] = "oops,2.0"
    path.write_text("\n".join(rows))
    src = NeuroKitCsvSource(NeuroKitCsvSettings(backend="neurokit_csv", path=path, realtime=False,
                                           loop=False, chunk_s=1.0))
    src.open()
    items = []
    with pytest.raises(EndOfStream):
        for _ in range(100):
            items += src.read()
    assert src.skipped == 1
    assert sum(i.values.size for i in items if i.kind == "ecg") == 400  # type: ignore[union-attr]


def test_failed_source_restarts_with_backoff_while_others_run(tmp_path: Path) -> None:
    late = tmp_path / "late.csv"  # does not exist yet: the source fails to open
    rt = RuntimeSettings(restart_min_s=0.1, restart_max_s=0.4)
    fusion = LateFusion(FusionSettings())
    good = SyntheticPhysioSource(SyntheticSettings(chunk_s=0.1))
    failing = NeuroKitCsvSource(NeuroKitCsvSettings(backend="neurokit_csv", path=late, chunk_s=0.5,
                                               realtime=False))
    pipe = Pipeline([(good, PhysioAnalyzer(5.0)), (failing, PhysioAnalyzer(5.0))], fusion, rt,
                    lambda: False)
    pipe.start()
    try:
        time.sleep(1.5)
        failing_runner = pipe.sources[1]
        assert failing_runner.stats.errors >= 2
        assert failing_runner.state == "backoff"
        assert pipe.sources[0].stats.items > 10  # the healthy source kept streaming
        assert pipe.analyzers[0].stats.items > 10
        late.write_text("ECG,EDA\n" + "\n".join("0.1,2.0" for _ in range(2000)))
        deadline = time.monotonic() + 5
        while failing_runner.stats.items == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert failing_runner.stats.items > 0, "source did not recover"
        assert pipe.stalled() == []
    finally:
        pipe.stop()
    assert not any(r.is_alive() for r in pipe.runners)
