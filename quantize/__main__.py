"""`python -m quantize build RECIPE [--check]`, `python -m quantize cards` and
`python -m quantize noise-floor RECIPE` (a detector float model's own stability)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quantize", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="rebuild a model from its recipe")
    b.add_argument("recipe", type=Path, nargs="+")
    b.add_argument("--check", action="store_true",
                   help="rebuild in a temporary folder and compare with the committed report")
    sub.add_parser("cards", help="write models/cards/*.md from the manifest and reports")
    n = sub.add_parser("noise-floor", help="how often a detector's float model changes its "
                       "own face count under a grey level of input noise")
    n.add_argument("recipe", type=Path, nargs="+")
    n.add_argument("--samples", type=int, default=None,
                   help="evaluation frames (default: the recipe's)")
    n.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "noise-floor":
        from quantize.noise_floor import main_noise_floor

        return main_noise_floor(args.recipe, args.json, args.samples)

    from quantize.recipe import REPO

    if args.cmd == "cards":
        from quantize.cards import write_cards

        for p in write_cards(REPO / "models"):
            print(p)
        return 0
    from quantize.build import build, compare_reports
    from quantize.recipe import load_recipe

    status = 0
    for path in args.recipe:
        recipe = load_recipe(path)
        if not args.check:
            report = build(recipe)
            print(json.dumps({k: report[k] for k in ("id", "size_bytes", "latency_ms")
                              if k in report}))
            continue
        committed = REPO / "models" / "reports" / f"{recipe.id}.parity.json"
        with tempfile.TemporaryDirectory() as tmp:
            report = build(recipe, Path(tmp), timing_runs=20)
        problems = compare_reports(report, json.loads(committed.read_text()))
        if problems:
            status = 1
            print(f"{recipe.id}: NOT reproduced: " + "; ".join(problems), file=sys.stderr)
        else:
            print(f"{recipe.id}: reproduced within tolerance")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
