"""Load and validate the TOML config into frozen `Settings`.

Validation is strict, like Frigate's: an unknown section or key, a value of
the wrong type or outside its range is a `ConfigError` whose message names the
key (`mqtt.port: expected an integer in [1, 65535], got 70000`). The command
line turns it into one line on stderr and exit status 78 (EX_CONFIG).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from edge.settings import Settings

EX_CONFIG = 78
_DEVICE_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_TOPIC_PART = re.compile(r"^[A-Za-z0-9_/-]{1,64}$")


class ConfigError(ValueError):
    """A config problem; the message starts with the offending key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


def _describe(tp: Any, meta: dict[str, Any]) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             Path: "a path string"}
    base = names.get(tp, getattr(tp, "__name__", str(tp)))
    if "choices" in meta:
        return "one of " + ", ".join(f'"{c}"' for c in meta["choices"])
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None or hi is not None:
        return f"{base} in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    return base


def _convert(key: str, value: Any, tp: Any, meta: dict[str, Any]) -> Any:
    optional = False
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        tp = args[0]
    if optional and (value == "" or value is None):
        return None
    if get_origin(tp) is tuple:  # tuple[str, ...]: a TOML array of strings
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"expected an array of strings, got {value!r}")
        return tuple(value)
    want = _describe(tp, meta)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected {want}, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected {want}, got {value!r}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"expected {want}, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(key, f"expected {want}, got {value!r}")
    elif tp in (str, Path):
        if not isinstance(value, str):
            raise ConfigError(key, f"expected {want}, got {value!r}")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(key, f"expected {want}, got {value!r}")
        return Path(value) if tp is Path else value
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(key, f"expected {want}, got {value!r}")
    return value


def _build(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            where = f"{prefix}.{key}" if prefix else key
            known = ", ".join(sorted(fields))
            raise ConfigError(where, f"unknown key (known: {known})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            continue
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(data[name], dict):
                raise ConfigError(key, f"expected a table [{key}], got {data[name]!r}")
            kwargs[name] = _build(tp, data[name], key)
        else:
            kwargs[name] = _convert(key, data[name], tp, dict(f.metadata))
    return cls(**kwargs)


def _check_readable(key: str, path: Path | None) -> None:
    if path is None:
        return
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror or exc}") from None


def _cross_check(s: Settings) -> None:
    if not _DEVICE_ID.match(s.device.id):
        raise ConfigError("device.id", f"expected 1-32 chars of a-z 0-9 _ -, got {s.device.id!r}")
    for key, value in (("mqtt.topic_prefix", s.mqtt.topic_prefix),
                       ("mqtt.discovery_prefix", s.mqtt.discovery_prefix)):
        if not _TOPIC_PART.match(value) or "//" in value or value.endswith("/"):
            raise ConfigError(key, f"expected a topic without wildcards, got {value!r}")
    if s.mqtt.reconnect_max_s < s.mqtt.reconnect_min_s:
        raise ConfigError("mqtt.reconnect_max_s", "must be >= mqtt.reconnect_min_s")
    if s.runtime.restart_max_s < s.runtime.restart_min_s:
        raise ConfigError("runtime.restart_max_s", "must be >= runtime.restart_min_s")
    if (s.mqtt.cert_file is None) != (s.mqtt.key_file is None):
        raise ConfigError("mqtt.cert_file", "cert_file and key_file go together")
    for key in ("ca_file", "cert_file", "key_file", "password_file"):
        _check_readable(f"mqtt.{key}", getattr(s.mqtt, key))
    if s.mqtt.password_env and s.mqtt.password_env not in os.environ:
        raise ConfigError("mqtt.password_env",
                          f"environment variable {s.mqtt.password_env} is not set")
    if s.physio.enabled and s.physio.source == "ble":
        if not s.physio.devices:
            raise ConfigError("physio.devices", 'required for source "ble"')
        for i, d in enumerate(s.physio.devices):
            kind, _, addr = d.partition("@")
            if kind not in ("polar_h10", "heart_rate", "eda") or not _MAC.match(addr):
                want = '"polar_h10|heart_rate|eda@AA:BB:CC:DD:EE:FF"'
                raise ConfigError(f"physio.devices[{i}]", f"expected {want}, got {d!r}")
    if s.physio.enabled and s.physio.source in ("e4", "neurokit_csv"):
        if s.physio.path is None:
            raise ConfigError("physio.path", f'required for source "{s.physio.source}"')
        if not s.physio.path.exists():
            raise ConfigError("physio.path", f"{s.physio.path} does not exist")
    if s.camera.enabled and s.camera.backend == "file":
        if s.camera.path is None:
            raise ConfigError("camera.path", 'required for backend "file"')
        _check_readable("camera.path", s.camera.path)
    if s.microphone.enabled and s.microphone.backend == "file":
        if s.microphone.path is None:
            raise ConfigError("microphone.path", 'required for backend "file"')
        _check_readable("microphone.path", s.microphone.path)


def parse_settings(data: dict[str, Any]) -> Settings:
    """Validate a parsed TOML document and return settings (raises ConfigError)."""
    settings: Settings = _build(Settings, data, "")
    _cross_check(settings)
    return settings


def load_settings(path: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Read `path` (TOML); `overrides` ({"section": {"key": value}}) win over the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    return parse_settings(data)


def mqtt_password(s: Settings) -> str | None:
    """The MQTT password from the environment variable or file named in the config."""
    if s.mqtt.password_env:
        return os.environ.get(s.mqtt.password_env)
    if s.mqtt.password_file is not None:
        lines = s.mqtt.password_file.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    return None
