"""The source interface, real-time pacing for file replays, and back-end tables.

A source kind (camera, microphone, wearable) has one `BackendTable`
(`edge/sources/<kind>/__init__.py`): a new back-end is one file (its settings
class and its source) plus one row there.
"""

from __future__ import annotations

import abc
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from edge.messages import Modality, SourceItem
from edge.settings import ConfigError, SourceSettings


class SourceError(RuntimeError):
    """A source failed (device gone, unreadable file); the pipeline retries with backoff."""


class EndOfStream(Exception):
    """A finite source (a replay with loop off) has nothing more."""


S = TypeVar("S", bound=SourceSettings)


class Source(abc.ABC, Generic[S]):
    """Reads one device or file as its back-end's settings `S` say; `read` returns the
    next item(s) or raises.

    `open`/`close` may be called many times (restart after failure, privacy
    pause). Corrupt input is counted in `skipped` and never raised.
    """

    name: str = "source"
    modality: Modality = "physio"

    def __init__(self, settings: S) -> None:
        self.settings = settings
        self.skipped = 0
        self.stop_event = threading.Event()

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the device or file; raise SourceError when it is not there."""

    @abc.abstractmethod
    def read(self) -> list[SourceItem]:
        """Block for at most about one chunk and return what arrived (may be empty)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; must be safe to call twice."""

    def describe(self) -> str:
        return self.name


@runtime_checkable
class MediaSource(Protocol):
    """A file source that knows where it is in media time (the lab replays through it)."""

    def open(self) -> None: ...

    def read(self) -> list[SourceItem]: ...

    def close(self) -> None: ...

    @property
    def position_s(self) -> float:
        """Media time reached: where the next read starts."""
        ...

    @property
    def item_time_s(self) -> float:
        """Media time of the items of the last read (a frame's time; a chunk's end)."""
        ...


@runtime_checkable
class ReportsHealth(Protocol):
    """A source of several devices that reports each one's health for `stats`."""

    def health(self) -> list[dict[str, Any]]:
        """Per-device health (kinds and counters; no addresses)."""
        ...


class Pacer:
    """Releases items at their media time (real time) or at once (`realtime=False`)."""

    def __init__(self, realtime: bool, stop: threading.Event) -> None:
        self.realtime = realtime
        self._stop = stop
        self._t0 = time.monotonic()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    def wait(self, media_time: float) -> float:
        """Wait until `media_time` seconds after start; return the monotonic time then."""
        if self.realtime:
            delay = self._t0 + media_time - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        return time.monotonic()


@dataclass(frozen=True)
class Backend:
    """One row of a source kind's back-end table: its name, its settings class (the
    section's common keys plus its own, validated by the class's `check`) and the
    source class it opens."""

    name: str
    settings: type[SourceSettings]
    source: Callable[[Any], Source[Any]]
    stands_in: str = ""
    """Empty for a live device; otherwise what the back-end feeds instead of one ("generated
    data", "a recording", "emulated devices"): `affectd check` warns when such a source
    is enabled, since its estimates would be published as if they were a person's."""


class BackendTable:
    """The back-ends of one source kind (camera, microphone, wearable), chosen by the
    section's `backend` key. Rows come from the daemon's own modules; more can be
    added by installed packages through the entry point group `group` (the lab's
    emulated wearables do), loaded only when their name is asked for."""

    def __init__(self, section: str, group: str, rows: list[Backend]) -> None:
        self.section = section
        self.group = group
        self.rows = {r.name: r for r in rows}

    def _plugins(self) -> dict[str, Any]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        return sorted(set(self.rows) | set(self._plugins()))

    def get(self, name: str) -> Backend:
        """The row called `name` (raises ConfigError naming `<section>.backend`)."""
        if name in self.rows:
            return self.rows[name]
        plugin = self._plugins().get(name)
        if plugin is None:
            want = ", ".join(f'"{n}"' for n in self.names())
            raise ConfigError(f"{self.section}.backend", f"expected one of {want}, got {name!r}")
        row = plugin.load()
        if not isinstance(row, Backend):
            raise ConfigError(f"{self.section}.backend", f"{plugin.value} is not a back-end row")
        return row

    def builtin_keys(self) -> set[str]:
        """Every key some built-in back-end of this kind reads."""
        return {f.name for r in self.rows.values() for f in dataclasses.fields(r.settings)}

    def open(self, settings: SourceSettings) -> Source[Any]:
        """The source of the section's back-end (settings of the section's base class,
        e.g. built in code rather than parsed, are converted to the back-end's class)."""
        row = self.get(settings.backend)
        if not isinstance(settings, row.settings):
            own = {f.name for f in dataclasses.fields(row.settings)}
            settings = row.settings(**{f.name: getattr(settings, f.name)
                                       for f in dataclasses.fields(settings) if f.name in own})
        return row.source(settings)


@dataclass(frozen=True)
class FileKeys:
    """The keys of a back-end that replays a file (mixed into its settings class)."""

    path: Path | None = None
    """The file to replay."""
    realtime: bool = True
    """Replay at the file's own pace (False: as fast as possible)."""
    loop: bool = True
    """Start the file again when it ends."""

    def check(self, section: str) -> None:
        if self.path is None:
            raise ConfigError(f"{section}.path", 'required for backend "file"')
        check_readable(f"{section}.path", self.path)


def check_readable(key: str, path: Path) -> None:
    """Raise ConfigError naming `key` unless `path` can be opened and read."""
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror or exc}") from None
