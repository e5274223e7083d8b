"""The lab: measuring the daemon, apart from it (`affectd bench | eval | replay | demo`).

Benchmarks against peers run side by side (`bench/`), accuracy on datasets
(`evaluate/`), replays and timelines of recorded media (`replay.py`,
`timeline.py`, read through the daemon's own sources in `media.py`), the demo
with its embedded broker (`demo.py`, `broker.py`), the emulated wearables
(`wearables.py`), dataset readers (`data.py`, `corpora.py`) and the one report
printer (`report.py`). The daemon never imports it (import-linter contract).
"""
