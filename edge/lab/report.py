"""The one report printer of the lab commands (`affectd bench | eval | replay`).

Every lab command returns its result as a JSON-ready dict; `print_report` writes
it as one JSON document (`--json`) or as text: the command's own formatter when
it has one (a function returning lines), else one `key: value` line per entry,
leaving out the bulky entries named in `omit`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

Formatter = Callable[[dict[str, Any]], Iterable[str]]


def report_text(result: dict[str, Any], text: Formatter | None = None,
                omit: Iterable[str] = ()) -> str:
    """The text form of `result`."""
    if text is not None:
        return "\n".join(text(result))
    skip = set(omit)
    return "\n".join(f"{k}: {v}" for k, v in result.items() if k not in skip)


def print_report(result: dict[str, Any], as_json: bool, text: Formatter | None = None,
                 omit: Iterable[str] = ()) -> None:
    """Print `result` as JSON (one line) or as text."""
    print(json.dumps(result) if as_json else report_text(result, text, omit))
