"""Label parsing for the speech corpora (used by training and `affectd eval speech`).

RAVDESS: `03-01-EE-II-SS-RR-AA.ext`, EE emotion (01 neutral, 02 calm -> neutral,
03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), AA actor
(odd male, even female). EmoDB: `SSTTTEV.ext`, SS speaker, E emotion letter
(W anger, L boredom -> not in the 7 labels, E disgust, A fear, F happiness,
T sadness, N neutral); speakers 03 10 11 12 15 male, 08 09 13 14 16 female.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RAVDESS = re.compile(r"^03-0[12]-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
EMODB = re.compile(r"^(\d{2})([a-z]\d{2})([WLEAFTN])([a-z])$")
RAVDESS_EMOTION = {"01": "neutral", "02": "neutral", "03": "happy", "04": "sad", "05": "angry",
                   "06": "fear", "07": "disgust", "08": "surprise"}
EMODB_EMOTION = {"W": "angry", "L": None, "E": "disgust", "A": "fear", "F": "happy", "T": "sad",
                 "N": "neutral"}
EMODB_MALE = {"03", "10", "11", "12", "15"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}


@dataclass(frozen=True)
class Clip:
    path: Path
    corpus: str
    speaker: str
    gender: str
    label: str | None
    """One of the 7 labels, or None for a clip outside them (EmoDB boredom)."""


def parse_clip(path: Path, label_from_folder: str | None = None) -> Clip | None:
    stem = path.stem
    m = RAVDESS.match(stem)
    if m:
        actor = m.group(5)
        return Clip(path, "ravdess", f"ravdess-{actor}", "male" if int(actor) % 2 else "female",
                    RAVDESS_EMOTION.get(m.group(1)))
    m = EMODB.match(stem)
    if m:
        spk = m.group(1)
        return Clip(path, "emodb", f"emodb-{spk}", "male" if spk in EMODB_MALE else "female",
                    EMODB_EMOTION[m.group(3)])
    if label_from_folder is not None:
        return Clip(path, "folder", "unknown", "unknown", label_from_folder)
    return None


def scan(root: Path, folder_labels: dict[str, str] | None = None) -> tuple[list[Clip], int]:
    """All clips under `root` (recursively) and the number of files not understood."""
    clips: list[Clip] = []
    unknown = 0
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        folder = (folder_labels or {}).get(p.parent.name.lower())
        c = parse_clip(p, folder)
        if c is None:
            unknown += 1
        else:
            clips.append(c)
    return clips, unknown
