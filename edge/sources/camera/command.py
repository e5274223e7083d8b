"""Camera back-end "command": frames from a child process that writes raw video to stdout.

wyoming-satellite's idea, for cameras: the capture program of the board does the
hardware part — `rpicam-vid … --codec yuv420 -o -` on a Pi, `gst-launch-1.0 -q
nvarguscamerasrc ! … ! fdsink` on a Jetson, `ffmpeg … -f rawvideo -` anywhere —
and affectd reads fixed-size frames of the declared `width` x `height` and
`format` from its stdout. A reader thread drains the pipe all the time and keeps
only the newest frame (older ones are dropped and counted, never queued), so a
slow analyzer never stalls the camera. When the child exits, `read` raises and
the pipeline restarts it with backoff (`runtime.restart_min_s`/`restart_max_s`);
the frame cut short by its exit is counted in `truncated` and dropped. The first
frame is checked for a row length other than the declared one (a wrong
`camera.width`), and output that ends between frames names `camera.width` and
`camera.height`. No frame touches disk: the pipe is the only path.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from edge.messages import SourceItem
from edge.settings import CameraSettings, ConfigError
from edge.sources.base import SourceError
from edge.sources.camera.capped import CappedSource

# bytes per pixel (of the luma plane for the planar formats) and per frame
FORMATS = {"yuv420": (1, 1.5), "nv12": (1, 1.5), "bgr24": (3, 3.0), "gray": (1, 1.0)}


@dataclass(frozen=True)
class CommandCameraSettings(CameraSettings):
    command: str = ""
    """The capture program and its arguments, split like a shell line (no shell runs it).
    `{width}`, `{height}` and `{fps}` are replaced by this section's values."""
    format: str = field(default="yuv420", metadata={"choices": tuple(FORMATS)})
    """The child's pixel format: "yuv420" (I420), "nv12", "bgr24" or "gray"."""

    def argv(self) -> list[str]:
        values = {"width": self.width, "height": self.height, "fps": f"{self.fps:g}"}
        return [part.format(**values) for part in shlex.split(self.command)]

    def check(self, section: str) -> None:
        if not self.command.strip():
            raise ConfigError(f"{section}.command", 'required for backend "command"')
        try:
            argv = self.argv()
        except (ValueError, KeyError, IndexError) as exc:
            raise ConfigError(f"{section}.command", f"cannot be split or filled ({exc})") from None
        if shutil.which(argv[0]) is None:
            raise ConfigError(f"{section}.command", f"program {argv[0]!r} not found")
        if self.format in ("yuv420", "nv12") and (self.width % 2 or self.height % 2):
            raise ConfigError(f"{section}.width", f"{self.format} needs an even width and height")

    @property
    def frame_bytes(self) -> int:
        return int(self.width * self.height * FORMATS[self.format][1])


def row_length_guess(frame: bytes, width: int, bpp: int) -> int | None:
    """The row length (in pixels) the first frame's bytes repeat at, when it is clearly not
    `width`: rows of an image resemble their neighbours, so the mean byte difference at a
    lag of one row is smallest at the true row length. A declared width of k true rows is
    caught too: its lag then spans k rows, more than the one-row lag of the true width."""
    x = np.frombuffer(frame, dtype=np.uint8)[: 1 << 19].astype(np.int16)

    def mad(px: int) -> float:
        lag = px * bpp
        return float(np.mean(np.abs(x[lag:] - x[:-lag]))) if 0 < lag < x.size // 2 else 1e9

    candidates = {*range(64, 4097, 16), width, *(width // k for k in (2, 3, 4) if width % k == 0)}
    best = min(sorted(candidates), key=mad)
    declared = mad(width)
    if best == width:
        return None
    if width % best == 0:  # the declared row holds several true rows
        return best if mad(best) * 1.1 + 0.5 < declared else None
    return best if declared > 2.0 * mad(best) + 1.0 else None


class CommandCamera(CappedSource[CommandCameraSettings]):
    """Raw frames from a child process's stdout, newest frame only."""

    name = "camera:command"

    def __init__(self, settings: CommandCameraSettings) -> None:
        super().__init__(settings)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._stderr: threading.Thread | None = None
        self._cond = threading.Condition()
        self._frame: bytes | None = None
        self._ended = False
        self._checked = False
        self._tail = b""
        self._partial = 0
        self.dropped = 0
        """Frames the child wrote that were replaced by a newer one before being read."""
        self.truncated = 0
        """Frames cut short by the child's exit (dropped)."""
        self.frames = 0
        """Whole frames read from the child."""

    def open(self) -> None:
        argv = self.settings.argv()
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, bufsize=0)
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot start {argv[0]!r}: {exc}") from None
        self._frame, self._ended, self._checked, self._tail = None, False, False, b""
        self._partial = 0
        self._reader = threading.Thread(target=self._drain, name="camera-command", daemon=True)
        self._reader.start()
        self._stderr = threading.Thread(target=self._keep_stderr, daemon=True,
                                        name="camera-stderr")
        self._stderr.start()

    def _keep_stderr(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        for line in iter(proc.stderr.readline, b""):
            self._tail = (self._tail + line)[-400:]

    def _drain(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        size, out = self.settings.frame_bytes, proc.stdout
        while True:
            frame = _read_exactly(out, size)
            with self._cond:
                if len(frame) < size:
                    if frame:
                        self.truncated += 1
                        self.skipped += 1
                    self._ended = True
                    self._partial = len(frame)
                    self._cond.notify_all()
                    return
                if self._frame is not None:
                    self.dropped += 1
                self._frame = frame
                self.frames += 1
                self._cond.notify_all()

    def read(self) -> list[SourceItem]:
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._ended
                                or self.stop_event.is_set(), timeout=5.0)
            frame, self._frame = self._frame, None
            ended = self._ended
        if frame is None:
            if ended:
                raise SourceError(self._exit_reason())
            if self.stop_event.is_set():
                return []
            raise SourceError(f"{self.name}: no frame from the command in 5 s")
        if not self._checked:
            self._checked = True
            self._check_geometry(frame)
        return self._emit(self._to_bgr(frame), time.monotonic())

    def _check_geometry(self, frame: bytes) -> None:
        s = self.settings
        guess = row_length_guess(frame, s.width, FORMATS[s.format][0])
        if guess is not None:
            raise SourceError(f"camera.width: the command writes rows of about {guess} pixels, "
                              f"not {s.width} ({s.format}); set camera.width and "
                              "camera.height to the size the command outputs")

    def _exit_reason(self) -> str:
        proc, s = self._proc, self.settings
        code = proc.wait(timeout=5.0) if proc is not None else None
        if self._stderr is not None:
            self._stderr.join(timeout=2.0)  # its last words come after the exit
        tail = self._tail.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        partial = self._partial
        if self.frames == 0 and partial:
            return (f"camera.width, camera.height: the command wrote {partial} bytes and "
                    f"exited, less than one {s.width}x{s.height} {s.format} frame "
                    f"({s.frame_bytes} bytes)")
        return f"{self.name}: the command exited (status {code}) {tail[0]}".rstrip()

    def _to_bgr(self, frame: bytes) -> Any:
        import cv2

        s = self.settings
        raw = np.frombuffer(frame, dtype=np.uint8)
        if s.format == "bgr24":
            return raw.reshape(s.height, s.width, 3)
        if s.format == "gray":
            return cv2.cvtColor(raw.reshape(s.height, s.width), cv2.COLOR_GRAY2BGR)
        code = cv2.COLOR_YUV2BGR_I420 if s.format == "yuv420" else cv2.COLOR_YUV2BGR_NV12
        return cv2.cvtColor(raw.reshape(s.height * 3 // 2, s.width), code)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=3.0)
            self._reader = None

    def describe(self) -> str:
        return f"{self.name} {self.settings.argv()[0]} ({self.frames} frames, " \
               f"{self.dropped} dropped, {self.truncated} truncated)"


def _read_exactly(out: IO[bytes], size: int) -> bytes:
    """`size` bytes from a pipe, or fewer when it ends first."""
    parts, got = [], 0
    while got < size:
        chunk = out.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
