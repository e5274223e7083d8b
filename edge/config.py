"""Load and validate the TOML config into frozen `Settings`.

Validation is strict, like Frigate's: an unknown section or key, a value of
the wrong type or outside its range is a `ConfigError` whose message names the
key (`mqtt.port: expected an integer in [1, 65535], got 70000`). Every such
problem in the file is reported at once, one line each (a key whose table is wrong
hides the keys inside it; the cross-checks between sections run once each key is
valid on its own). The command line prints them on stderr and exits with status 78
(EX_CONFIG).

A source section is built as the settings class of the back-end it names
(`edge.sources.TABLES`), which checks itself; keys that only another back-end of
the same kind reads are left aside, so switching `backend` back and forth needs
no other edit. Old key names are still read for one release, with a warning in
the log: `physio.source` (now `physio.backend`), `physio.ble_backend = "emulated"`
(now `physio.backend = "emulated"`) and `fusion.weight_face`-style keys (now
`[fusion.face] weight`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (Jetson JetPack 6): the same parser from PyPI
    import tomli as tomllib

from edge.profiles import profile_names
from edge.settings import ConfigError, Settings
from edge.sources import TABLES
from edge.sources.base import check_readable

EX_CONFIG = 78
_DEVICE_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
log = logging.getLogger(__name__)
_FUSION_ALIASES = {f"{param}_{m}": (m, new) for m in ("face", "voice", "physio")
                   for param, new in (("weight", "weight"), ("temperature", "temperature"),
                                      ("pool", "pool"))}
_TOPIC_PART = re.compile(r"^[A-Za-z0-9_/-]{1,64}$")


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


def _deprecated(old: str, new: str) -> None:
    log.warning("config: %s is deprecated and will be removed; use %s", old, new)


def _physio_aliases(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if "source" in data:
        _deprecated("physio.source", "physio.backend")
        if "backend" in data:
            raise ConfigError("physio.source", "give physio.backend only (source is its old name)")
        data["backend"] = data.pop("source")
    if "ble_backend" in data:
        value = data.pop("ble_backend")
        if value not in ("bluez", "emulated"):
            raise ConfigError("physio.ble_backend", f'expected one of "bluez", "emulated", '
                                                    f"got {value!r}")
        _deprecated("physio.ble_backend", 'physio.backend = "ble" or "emulated"')
        if value == "emulated" and data.get("backend") == "ble":
            data["backend"] = "emulated"
    return data


def _fusion_aliases(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    for old in [k for k in data if k in _FUSION_ALIASES]:
        m, new = _FUSION_ALIASES[old]
        _deprecated(f"fusion.{old}", f"fusion.{m}.{new}")
        table = data.setdefault(m, {})
        if not isinstance(table, dict) or new in table:
            raise ConfigError(f"fusion.{old}", f"give fusion.{m}.{new} only")
        table[new] = data.pop(old)
    return data


def _build_source(name: str, data: dict[str, Any], default: Any,
                  problems: list[ConfigError]) -> Any:
    """A source section as its back-end's settings class (which checks itself)."""
    table = TABLES[name]
    if name == "physio":
        data = _physio_aliases(data)
    backend = data.get("backend", default.backend)
    if not isinstance(backend, str):
        raise ConfigError(f"{name}.backend", f"expected a string, got {backend!r}")
    row = table.get(backend)
    own = {f.name for f in dataclasses.fields(row.settings)}
    others = table.builtin_keys() - own
    for key in others & set(data):  # not read by this back-end, yet a wrong type is an error
        cls = next(r.settings for r in table.rows.values()
                   if key in {f.name for f in dataclasses.fields(r.settings)})
        f = next(f for f in dataclasses.fields(cls) if f.name == key)
        try:
            _convert(f"{name}.{key}", data[key], get_type_hints(cls)[key], dict(f.metadata))
        except ConfigError as exc:
            problems.append(exc)
    found = len(problems)
    settings = _build(row.settings, {k: v for k, v in data.items() if k not in others}, name,
                      problems)
    if settings.enabled and len(problems) == found:  # its own check reads valid keys only
        settings.check(name)
    return settings


def _build(cls: Any, data: dict[str, Any], prefix: str, problems: list[ConfigError],
           base: Any = None) -> Any:
    """`cls` from the table `data` (keys named `<prefix>.<key>` in errors); keys absent
    from `data` keep the values of `base` (the field's default in the parent) or the
    class defaults. Each problem is appended to `problems` and its key left at the
    default, so that one pass finds them all."""
    if prefix == "fusion":
        data = _fusion_aliases(data)
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            where = f"{prefix}.{key}" if prefix else key
            known = ", ".join(sorted(fields))
            problems.append(ConfigError(where, f"unknown key (known: {known})"))
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        try:
            if not prefix and name in TABLES:
                section = data.get(name, {})
                if not isinstance(section, dict):
                    raise ConfigError(key, f"expected a table [{key}], got {section!r}")
                kwargs[name] = _build_source(name, section, f.default, problems)
                continue
            if name not in data:
                continue
            tp = hints[name]
            if dataclasses.is_dataclass(tp):
                if not isinstance(data[name], dict):
                    raise ConfigError(key, f"expected a table [{key}], got {data[name]!r}")
                default = f.default if dataclasses.is_dataclass(f.default) else None
                kwargs[name] = _build(tp, data[name], key, problems, default)
            else:
                kwargs[name] = _convert(key, data[name], tp, dict(f.metadata))
        except ConfigError as exc:
            problems.append(exc)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def _check_readable(key: str, path: Path | None) -> None:
    if path is not None:
        check_readable(key, path)


def _cross_check(s: Settings) -> None:
    if not _DEVICE_ID.match(s.device.id):
        raise ConfigError("device.id", f"expected 1-32 chars of a-z 0-9 _ -, got {s.device.id!r}")
    for key, value in (("mqtt.topic_prefix", s.mqtt.topic_prefix),
                       ("mqtt.discovery_prefix", s.mqtt.discovery_prefix)):
        if not _TOPIC_PART.match(value) or "//" in value or value.endswith("/"):
            raise ConfigError(key, f"expected a topic without wildcards, got {value!r}")
    bridge = s.mqtt.bridge_state_topic
    if bridge and (not _TOPIC_PART.match(bridge) or "//" in bridge or bridge.endswith("/")):
        raise ConfigError("mqtt.bridge_state_topic",
                          f"expected a topic without wildcards, got {bridge!r}")
    if s.publish.profile not in profile_names():
        want = ", ".join(f'"{n}"' for n in profile_names())
        raise ConfigError("publish.profile", f"expected one of {want}, got {s.publish.profile!r}")
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


def parse_settings(data: dict[str, Any]) -> Settings:
    """Validate a parsed TOML document and return settings (raises ConfigError)."""
    problems: list[ConfigError] = []
    settings: Settings = _build(Settings, data, "", problems)
    if problems:
        raise ConfigError.several(problems)
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


__all__ = ["EX_CONFIG", "ConfigError", "load_settings", "mqtt_password", "parse_settings"]
