"""The model registry: `models/manifest.json` lists every model the daemon may run.

Each entry gives the file, its sha256, the I/O spec (shape, dtype, scale and
zero point, labels), the source and licence, the training data and its terms,
metrics and the parity report. The daemon loads models only through
`Registry.load`, which refuses a file whose sha256 does not match the manifest
with an error naming the file; there is no other loading path and no network.

The model files, the manifest and the reports are package data of the `models`
package (pyproject.toml), found with `importlib.resources`: the same lookup
works from a source checkout and from an installed wheel. A registry that finds
no manifest, or a manifest that lists no model, is an error naming the path
(the command line exits 65), never an empty list.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edge.inference import TFLiteModel

MODELS_PACKAGE = "models"


def default_models_dir() -> Path:
    """The folder of the shipped models: the `models` package's data (checkout or wheel)."""
    try:
        root = resources.files(MODELS_PACKAGE)
    except ModuleNotFoundError:
        raise ModelError(f"the {MODELS_PACKAGE!r} package (model files and manifest) is not "
                         "installed") from None
    return Path(str(root))


class ModelError(RuntimeError):
    """A model is missing from the registry, absent on disk, or fails its checksum."""


@dataclass(frozen=True)
class ModelEntry:
    id: str
    version: str
    file: str
    sha256: str
    task: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    source: dict[str, Any]
    licence: str
    labels: list[str] = field(default_factory=list)
    training_data: str = ""
    data_terms: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    parity_report: str = ""
    float_file: str = ""
    recipe: str = ""
    preprocessing: dict[str, Any] = field(default_factory=dict)
    """How the daemon prepares inputs beyond the tensor spec, e.g.
    {"speaker_normalisation": true} (`edge.voice.adapt`)."""

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Registry:
    def __init__(self, models_dir: Path | None = None, *, create: bool = False) -> None:
        """The registry of `models_dir` (default: the shipped models). A missing or empty
        manifest raises ModelError, unless `create` (a training script starting one)."""
        self.dir = Path(models_dir) if models_dir is not None else default_models_dir()
        self.manifest_path = self.dir / "manifest.json"
        try:
            data = json.loads(self.manifest_path.read_text("utf-8"))
        except FileNotFoundError:
            if not create:
                raise ModelError(f"{self.manifest_path}: no model manifest (the models are "
                                 "package data of affectd: reinstall it)") from None
            data = {"models": []}
        except (OSError, ValueError) as exc:
            raise ModelError(f"{self.manifest_path}: unreadable manifest ({exc})") from None
        try:
            self.entries = {m["id"]: ModelEntry(**m) for m in data.get("models", [])}
        except (TypeError, KeyError, AttributeError) as exc:
            raise ModelError(f"{self.manifest_path}: malformed manifest entry ({exc})") from None
        if not self.entries and not create:
            raise ModelError(f"{self.manifest_path}: the manifest lists no model")

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self.entries[model_id]
        except KeyError:
            raise ModelError(f"model {model_id!r} is not in {self.manifest_path}") from None

    def verify(self, model_id: str) -> Path:
        """The model's path after checking it exists and its sha256 matches."""
        entry = self.get(model_id)
        path = self.dir / entry.file
        if not path.is_file():
            raise ModelError(f"{path}: model file missing")
        digest = sha256_file(path)
        if digest != entry.sha256:
            raise ModelError(f"{path}: sha256 {digest[:12]}… does not match the manifest "
                             f"({entry.sha256[:12]}…); refusing a modified model file")
        return path

    def load(self, model_id: str, threads: int = 2) -> TFLiteModel:
        return TFLiteModel(self.verify(model_id), threads)

    def verify_all(self) -> list[str]:
        """Errors for every entry that fails verification (empty when all are good)."""
        errors = []
        for mid in self.entries:
            try:
                self.verify(mid)
            except ModelError as exc:
                errors.append(str(exc))
        return errors

    def save(self) -> None:
        data = {"models": [vars(e) for e in sorted(self.entries.values(), key=lambda e: e.id)]}
        self.manifest_path.write_text(json.dumps(data, indent=2) + "\n", "utf-8")

    def put(self, entry: ModelEntry) -> None:
        self.entries[entry.id] = entry
