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


def source_warnings(settings: Settings) -> list[str]:
    """A warning for every enabled source whose back-end is no live device (generated data,
    a recording, emulated devices): what it publishes would pass for a person's; and one
    when no source is enabled at all."""
    if not any(section.enabled for section in sections(settings).values()):
        return ["no source is enabled: only availability and empty states will be published "
                "(enable [camera], [microphone] or [physio])"]
    out = []
    for name, section in sections(settings).items():
        row = TABLES[name].get(section.backend)
        if section.enabled and row.stands_in:
            out.append(f'{name}.backend = "{section.backend}": the {name} '
                       f"estimates come from {row.stands_in}, not from a person; "
                       "published as if they were real")
    return out


__all__ = ["TABLES", "Backend", "BackendTable", "EndOfStream", "Source", "SourceError",
           "build_sources", "sections", "source_warnings"]
