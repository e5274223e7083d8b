"""Sources: the adapters that read hardware or files and emit typed messages.

One small interface (`Source`), several back-ends per kind, like bleak's one
client over platform back-ends. `build_sources` picks them from the settings.
"""

from __future__ import annotations

from edge.settings import Settings
from edge.sources.base import EndOfStream, Source, SourceError


def build_sources(settings: Settings) -> list[Source]:
    """The sources the settings enable (imports are lazy: hardware libraries are optional)."""
    sources: list[Source] = []
    if settings.physio.enabled:
        from edge.sources.physio import open_physio_source

        sources.append(open_physio_source(settings.physio))
    if settings.camera.enabled:
        from edge.sources.camera import open_camera

        sources.append(open_camera(settings.camera))
    if settings.microphone.enabled:
        from edge.sources.microphone import open_microphone

        sources.append(open_microphone(settings.microphone))
    return sources


__all__ = ["EndOfStream", "Source", "SourceError", "build_sources"]
