"""The `command` camera back-end with real child processes (ffmpeg from Debian):
a test pattern and a real video as raw frames on the child's stdout, the child dying and
coming back (restarted with backoff by the pipeline), a frame cut short, a wrong frame
size (an error naming the key), bad settings, and the daemon end to end over MQTT."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from edge.config import parse_settings
from edge.settings import ConfigError
from edge.sources.base import SourceError
from edge.sources.camera.command import CommandCamera, CommandCameraSettings
from tests.conftest import DaemonProcess, Recorder, write_config

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="ffmpeg not installed (script/test installs it)")
PATTERN = ("ffmpeg -v error -re -f lavfi -i testsrc=size={width}x{height}:rate={fps} "
           "-t 3 -pix_fmt yuv420p -f rawvideo -")


def camera(command: str, width: int = 320, height: int = 240, fmt: str = "yuv420",
           fps: float = 15.0) -> CommandCamera:
    s = CommandCameraSettings(enabled=True, backend="command", command=command, width=width,
                              height=height, fps=fps, format=fmt)
    s.check("camera")
    return CommandCamera(s)


def frames_until_exit(cam: CommandCamera, limit_s: float = 20.0) -> tuple[list, str]:
    got: list = []
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        try:
            got += cam.read()
        except SourceError as exc:
            return got, str(exc)
    raise AssertionError("the child did not exit")


def test_test_pattern_frames_at_the_declared_size() -> None:
    cam = camera(PATTERN)
    cam.open()
    try:
        frames, reason = frames_until_exit(cam)
    finally:
        cam.close()
    assert 30 <= len(frames) <= 46, len(frames)  # 3 s at 15 fps, paced by ffmpeg -re
    img = frames[5].image
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    assert img.std() > 40  # the colour bars, not a grey frame
    assert "exited (status 0)" in reason
    assert cam.truncated == 0 and cam.frames >= len(frames)


def test_real_video_bgr24_and_newest_frame_only(shared_data: Path) -> None:
    """A real clip, written by ffmpeg as fast as it decodes (no -re): the reader keeps only
    the newest frame, so frames are dropped, never queued."""
    video = shared_data / "video" / "single_face.mp4"
    cam = camera(f"ffmpeg -v error -i {video} -t 4 -vf scale={{width}}:{{height}} "
                 "-pix_fmt bgr24 -f rawvideo -", 320, 240, "bgr24", fps=240.0)
    cam.open()
    try:
        time.sleep(2.0)  # the analyzer is busy: ffmpeg keeps writing
        frames, _ = frames_until_exit(cam)
    finally:
        cam.close()
    assert cam.dropped > 0 and cam.frames > len(frames)
    assert frames[0].image.shape == (240, 320, 3)
    assert 40 < float(frames[0].image.mean()) < 220


def test_child_dies_and_comes_back() -> None:
    cam = camera("sh -c 'ffmpeg -v error -re -f lavfi -i testsrc=size=320x240:rate=15 "
                 "-t 1 -pix_fmt yuv420p -f rawvideo -; echo lost the sensor >&2; exit 3'")
    counts = []
    for _ in range(2):
        cam.open()
        try:
            frames, reason = frames_until_exit(cam)
        finally:
            cam.close()
        counts.append(len(frames))
        assert "exited (status 3) lost the sensor" in reason, reason
    assert min(counts) >= 8, counts


def test_truncated_frame_is_counted_and_dropped(tmp_path: Path) -> None:
    size = 320 * 240 * 3 // 2
    raw = tmp_path / "frames.yuv"
    rng = np.random.default_rng(0)
    raw.write_bytes(rng.integers(0, 256, size * 2 + size // 3, dtype=np.uint8).tobytes())
    cam = camera(f"sh -c 'sleep 0.2; cat {raw}'", fps=240.0)
    cam.open()
    try:
        frames, reason = frames_until_exit(cam)
    finally:
        cam.close()
    assert cam.frames == 2 and cam.truncated == 1 and cam.skipped == 1
    assert 1 <= len(frames) <= 2 and "exited (status 0)" in reason


def test_wrong_frame_size_names_the_key(shared_data: Path) -> None:
    video = shared_data / "video" / "single_face.mp4"
    cmd = f"ffmpeg -v error -re -i {video} -t 2 -vf scale=320:240 -pix_fmt yuv420p -f rawvideo -"
    for width, height in ((480, 360), (640, 480)):
        cam = camera(cmd, width, height)
        cam.open()
        try:
            with pytest.raises(SourceError, match=r"^camera\.width: .*rows of about 320 pixels"):
                cam.read()
        finally:
            cam.close()
    # output that ends before the first whole frame names both keys
    cam = camera(f"ffmpeg -v error -i {video} -frames:v 1 -vf scale=320:240 -pix_fmt bgr24 "
                 "-f rawvideo -", 640, 480, "bgr24")
    cam.open()
    try:
        frames, reason = frames_until_exit(cam)
    finally:
        cam.close()
    assert frames == [] and cam.truncated == 1
    assert re.match(r"camera\.width, camera\.height: .*wrote 230400 bytes", reason), reason


@pytest.mark.parametrize(("camera_keys", "key"), [
    ({}, "camera.command"),
    ({"command": "no-such-capture-program -o -"}, "camera.command"),
    ({"command": "ffmpeg 'unclosed"}, "camera.command"),
    ({"command": "ffmpeg -", "format": "rgb565"}, "camera.format"),
    ({"command": "ffmpeg -", "width": 321}, "camera.width"),
])
def test_bad_settings_name_the_key(camera_keys: dict, key: str) -> None:
    raw = {"camera": {"enabled": True, "backend": "command", **camera_keys},
           "physio": {"enabled": False}}
    with pytest.raises(ConfigError) as err:
        parse_settings(raw)
    assert err.value.key == key, err.value


def test_daemon_end_to_end_with_a_restarting_child(shared_data: Path, tmp_path: Path,
                                                   broker: object, recorder: Recorder) -> None:
    """`affectd run` with the command camera on a real clip whose ffmpeg exits every 2 s:
    face states reach the broker, and stats count the child's restarts."""
    video = shared_data / "video" / "single_face.mp4"
    cmd = (f"ffmpeg -v error -re -ss 1 -i {video} -t 2 -vf scale={{width}}:{{height}} "
           "-pix_fmt yuv420p -f rawvideo -")
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",  # type: ignore[attr-defined]
                       physio={"enabled": False},
                       camera={"enabled": True, "backend": "command", "command": cmd,
                               "width": 640, "height": 480},
                       runtime={"restart_min_s": 0.2, "restart_max_s": 1.0},
                       publish={"interval_s": 0.25, "stats_interval_s": 1.0})
    d = DaemonProcess(cfg)
    try:
        recorder.wait_for("affectd/test/state", timeout=60,
                          pred=lambda m: m.json()["modalities"]["face"]["present"])
        stats = recorder.wait_for(
            "affectd/test/stats", timeout=60,
            pred=lambda m: m.json()["stages"].get("camera:command", {}).get("restarts", 0) >= 2)
    finally:
        code, _, err = d.stop()
    assert code == 0, err[-2000:]
    stage = stats[0].json()["stages"]["camera:command"]
    assert stage["items"] > 20 and "exited (status 0)" in stage.get("last_error", ""), stage
