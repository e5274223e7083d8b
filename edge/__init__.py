"""affectd: the daemon (everything `affectd run` needs) and, in `edge.lab`, the lab.

The data path: sources (`edge/sources`) -> analyzers, one home per modality
(`edge/face`, `edge/voice`, `edge/physio`) -> fusion (`edge/fusion.py`) ->
profiles (`edge/profiles`) -> publish (`edge/publish`); `edge/daemon.py` and
`edge/pipeline.py` run it. README "Architecture" describes the wings.
"""

__version__ = "0.1.0"
