"""Small JSON records in the state directory (`device.state_dir`), written atomically.

The daemon keeps only settings-like records there (the privacy switch, what it announced
to Home Assistant, the wearer's baseline): never raw data. A write goes to a temporary
file first and is renamed over the record, so a crash never leaves half a file; a state
directory that cannot be written is reported, not fatal.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_record(path: Path, text: str) -> str | None:
    """Write `text` to `path` atomically; None, or the fault to report when it failed."""
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
        return None
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return f"state_dir not writable: {exc.strerror or exc}"
