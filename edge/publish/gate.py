"""The publish boundary: every payload is checked against the allow-list schema.

`PayloadGate.admit(kind, payload)` serialises the payload, refuses (and counts)
anything that does not validate against `$defs/<kind>` of
`edge/schema/payloads.schema.json` or is larger than `MAX_PAYLOAD_BYTES`, and
returns the bytes to send. There is no other path to the broker.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

MAX_PAYLOAD_BYTES = 4096
DEVICE_KINDS = ("availability", "privacy_state", "stats", "discovery")
"""What every device publishes, whatever its profile."""
log = logging.getLogger(__name__)


def load_schema() -> dict[str, Any]:
    text = resources.files("edge").joinpath("schema/payloads.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class PayloadRefused(ValueError):
    """A payload failed the allow-list."""


class PayloadGate:
    """Validates and serialises payloads; thread-safe counters of what it refused."""

    def __init__(self, profile_kinds: Iterable[str] | None = None) -> None:
        """Admit the device's own kinds plus `profile_kinds` (None: every profile's)."""
        if profile_kinds is None:
            from edge.profiles import profile_class, profile_names

            profile_kinds = [k for n in profile_names() for k in profile_class(n).kinds]
        schema = load_schema()
        Draft202012Validator.check_schema(schema)
        self._validators = {
            kind: Draft202012Validator({"$ref": f"#/$defs/{kind}", "$defs": schema["$defs"]})
            for kind in (*DEVICE_KINDS, *profile_kinds)
        }
        self._lock = threading.Lock()
        self.refused = 0

    def check(self, kind: str, payload: Any) -> bytes:
        """Return the wire bytes of `payload` or raise PayloadRefused (and count it)."""
        try:
            validator = self._validators[kind]
            errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
            if errors:
                where = "/".join(str(p) for p in errors[0].path) or "(root)"
                raise PayloadRefused(f"{kind}: {where}: {errors[0].message[:160]}")
            data = payload if isinstance(payload, str) else json.dumps(
                payload, separators=(",", ":"), allow_nan=False)
            raw = data.encode("utf-8")
            if len(raw) > MAX_PAYLOAD_BYTES:
                raise PayloadRefused(f"{kind}: {len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
            return raw
        except (KeyError, ValueError, TypeError) as exc:
            with self._lock:
                self.refused += 1
            log.warning("payload refused at the publish boundary: %s", exc)
            raise PayloadRefused(str(exc)) from None
