"""The privacy pause switch, persisted in the state directory across restarts.

The file `privacy.json` holds only `{"paused": true|false}`; it is written
atomically (temp file + rename) so a crash never leaves it half-written. A
state directory that cannot be written (disk full, read-only) keeps the switch
working in memory and is reported as a fault.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class PrivacySwitch:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "privacy.json"
        self._lock = threading.Lock()
        self._on = self._load()
        self.fault: str | None = None

    def _load(self) -> bool:
        try:
            data = json.loads(self.path.read_text("utf-8"))
            return bool(data.get("paused", False)) if isinstance(data, dict) else False
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.warning("unreadable %s (%s): privacy pause assumed OFF", self.path, exc)
            return False

    @property
    def on(self) -> bool:
        return self._on

    def set(self, on: bool) -> bool:
        """Set the switch; return True when it changed. Persists (best effort)."""
        with self._lock:
            changed = on != self._on
            self._on = on
            tmp = self.path.with_suffix(".tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps({"paused": on}), "utf-8")
                os.replace(tmp, self.path)
                self.fault = None
            except OSError as exc:
                self.fault = f"state_dir not writable: {exc.strerror or exc}"
                log.error("cannot persist privacy switch: %s", exc)
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
            return changed
