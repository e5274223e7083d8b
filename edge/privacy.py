"""The privacy pause switch, persisted in the state directory across restarts.

The file `privacy.json` holds only `{"paused": true|false}`; it is written
atomically (temp file + rename) so a crash never leaves it half-written. A
state directory that cannot be written (disk full, read-only) keeps the switch
working in memory and is reported as a fault.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from edge.statedir import write_record

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
            self.fault = write_record(self.path, json.dumps({"paused": on}))
            if self.fault:
                log.error("cannot persist privacy switch: %s", self.fault)
            return changed
