"""`affectd bench vad` on the shared non-speech and speech audio: both detectors through
the daemon's segmenter, every category reported, the figures consistent with each
other. (What the figures are lives in the README; no timing is asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_bench_vad_reports_both_detectors_per_category(shared_data: Path) -> None:
    pytest.importorskip("webrtcvad")
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-m", "edge", "bench", "vad", "--stride", "8",
                          "--json"], capture_output=True, text=True, timeout=600, cwd=root,
                         env={**__import__("os").environ, "AFFECTD_DATA": str(shared_data)})
    assert res.returncode == 0, res.stderr[-2000:]
    r = json.loads(res.stdout)
    assert r["speech_clips"] > 50
    for name in ("ours", "webrtcvad"):
        v = r[name]
        for cat in ("music", "noise", "household", "environment", "human_nonspeech",
                    "music_vocal"):
            assert 0.0 <= v[cat]["share"] <= 1.0 and v[cat]["seconds"] > 0
            assert v[cat]["accepted_s"] <= v[cat]["seconds"] + 0.1
        total = sum(v[c]["seconds"] for c in ("music", "noise", "household", "environment",
                                               "human_nonspeech"))
        assert v["nonspeech"]["seconds"] == pytest.approx(total, abs=0.5)
        assert 0.0 < v["speech"]["recall"] <= 1.0
        assert v["rtf_speech"] > 0 and v["rtf_silence"] > 0
