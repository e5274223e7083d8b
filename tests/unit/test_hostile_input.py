"""Hostile input: random configs, random MQTT command payloads, corrupt media files.
Nothing may crash the daemon or escape as anything but the documented error."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import ConfigError, parse_settings

SECTIONS = ["device", "mqtt", "publish", "fusion", "physio", "camera", "face", "microphone",
            "runtime", "bogus"]
KEYS = ["id", "port", "host", "qos", "interval_s", "enabled", "backend", "path", "fps",
        "devices", "threads", "tls", "ca_file", "dwell_s", "min_score", "nonsense"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True), st.text(max_size=30),
                    st.lists(st.text(max_size=12), max_size=3))


def read_a_little(src: object) -> None:
    """Open and read a source; only SourceError / EndOfStream may come out."""
    from edge.sources.base import EndOfStream, Source, SourceError

    assert isinstance(src, Source)
    try:
        src.open()
        for _ in range(5):
            src.read()
    except (SourceError, EndOfStream):
        pass
    finally:
        src.close()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(SECTIONS),
                       st.one_of(scalars, st.dictionaries(st.sampled_from(KEYS), scalars,
                                                          max_size=4)), max_size=4))
def test_random_configs_only_raise_config_error(doc: dict) -> None:
    try:
        parse_settings(doc)
    except ConfigError as exc:
        assert str(exc).split(":")[0]  # names a key


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=4000), st.sampled_from([".jpg", ".png", ".mp4", ".avi"]))
def test_corrupt_images_and_videos_raise_source_error_only(data: bytes, suffix: str) -> None:
    import tempfile

    from edge.sources.camera.file import FileCameraSettings, VideoFileSource

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(data)
        read_a_little(VideoFileSource(FileCameraSettings(backend="file", path=path,
                                                     realtime=False, loop=False)))


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=4000), st.sampled_from([".wav", ".flac"]))
def test_corrupt_audio_raises_source_error_only(data: bytes, suffix: str) -> None:
    import tempfile

    from edge.sources.microphone.file import AudioFileSource, FileMicrophoneSettings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes((b"RIFF" if suffix == ".wav" else b"fLaC") + data)
        read_a_little(AudioFileSource(FileMicrophoneSettings(backend="file", path=path,
                                                         realtime=False, loop=False)))
