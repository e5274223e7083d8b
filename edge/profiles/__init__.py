"""Publishing profiles: which topic carries what, and how often (docs/mqtt.md).

Each profile is one file here named after it (`full.py`, `mood_light.py`,
`biofeedback.py`, `kiosk.py`) that defines `PROFILE`, a subclass of
`edge.profiles.base.Profile`; `publish.profile` names the file. A new profile is
one file plus the `$defs` entry of its payload in `edge/schema/payloads.schema.json`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

NOT_PROFILES = {"base", "audience"}
"""Modules of this package that are not profiles."""


def profile_names() -> list[str]:
    """The profiles, from the file names of this package (nothing is imported)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if m.name not in NOT_PROFILES and not m.ispkg)


def profile_class(name: str) -> Any:
    """The `Profile` subclass of `publish.profile = name`."""
    if name not in profile_names():
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}").PROFILE


__all__ = ["profile_class", "profile_names"]
