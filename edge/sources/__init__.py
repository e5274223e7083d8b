"""Sources: the adapters that read hardware or files and emit typed messages.

One small interface (`Source`), several back-ends per kind, like bleak's one
client over platform back-ends: one folder per kind (`camera/`, `microphone/`,
`wearable/`), a file per back-end, and one table per kind that the section's
`backend` key chooses from. `build_sources` opens what the settings enable.
"""

from __future__ import annotations

from edge.settings import Settings, SourceSettings
from edge.sources.base import Backend, BackendTable, EndOfStream, Source, SourceError
from edge.sources.camera import CAMERAS
from edge.sources.microphone import MICROPHONES
from edge.sources.wearable import WEARABLES

TABLES: dict[str, BackendTable] = {"physio": WEARABLES, "camera": CAMERAS,
                                   "microphone": MICROPHONES}
"""The back-end table of each source section of the config."""


def sections(settings: Settings) -> dict[str, SourceSettings]:
    """The source sections of `settings`, by name."""
    return {"physio": settings.physio, "camera": settings.camera,
            "microphone": settings.microphone}


def build_sources(settings: Settings) -> list[Source]:
    """The sources the settings enable (hardware libraries are imported when opened)."""
    return [TABLES[name].open(section) for name, section in sections(settings).items()
            if section.enabled]


__all__ = ["TABLES", "Backend", "BackendTable", "EndOfStream", "Source", "SourceError",
           "build_sources", "sections"]
