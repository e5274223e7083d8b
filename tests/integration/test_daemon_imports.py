"""The daemon wing imports nothing of the lab or training wings, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_daemon_modules_import_no_lab_training_or_heavy_library() -> None:
    """Every module of the daemon (all of `edge` but `edge.lab`), imported together,
    pulls in nothing of the lab or training wings and none of the libraries only they
    use (memory on a Pi; see edge/dsp.py for the filters that replace scipy)."""
    code = ("import importlib, pkgutil, sys\n"
            "def walk(pkg):\n"
            "    for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
            "        if m.name in ('edge.lab', 'edge.__main__'):\n"
            "            continue\n"
            "        mod = importlib.import_module(m.name)\n"
            "        if m.ispkg:\n"
            "            walk(mod)\n"
            "walk(importlib.import_module('edge'))\n"
            "bad = ('scipy', 'sklearn', 'tensorflow', 'keras', 'matplotlib', 'neurokit2',\n"
            "       'librosa', 'amqtt', 'bumble', 'quantize')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in bad\n"
            "             or m.startswith(('edge.lab', 'models.training'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
