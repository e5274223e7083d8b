"""The model registry: checksums enforced, tampering refused by name, listing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.registry import ModelError, Registry, default_models_dir
from tests.conftest import tampered_copy

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_model_verifies_and_runs() -> None:
    reg = Registry()
    assert reg.entries, "models/manifest.json lists no model"
    for mid, entry in reg.entries.items():
        if entry.task == "speech_gate":  # the speech gate (JSON weights)
            from edge.voice.speechness import GATE_FEATURES, SpeechGate

            gate = SpeechGate.from_registry()
            assert entry.inputs[0]["features"] == list(GATE_FEATURES)
            assert 0.0 < gate.threshold < 1.0
            assert (default_models_dir() / entry.parity_report).exists()
            continue
        if entry.task == "speech_prosody":  # the prosody head (JSON weights)
            from edge.messages import EMOTIONS
            from edge.voice.prosody import PROSODY_FEATURES, ProsodyHead

            head = ProsodyHead.from_registry()
            assert entry.inputs[0]["features"] == list(PROSODY_FEATURES)
            assert head.labels == EMOTIONS and 0.0 < head.network_weight < 1.0
            lp = head.log_probs(np.zeros(len(PROSODY_FEATURES)))
            assert abs(float(np.exp(lp).sum()) - 1.0) < 1e-9
            assert (default_models_dir() / entry.parity_report).exists()
            continue
        if entry.task == "action_units":  # the action units' neutral face (JSON statistics)
            from edge.face.action_units import ACTION_UNITS, MEASURES, Population, intensities

            pop = Population.load(reg.verify(mid))
            assert entry.inputs[0]["features"] == list(MEASURES)
            assert entry.labels == list(ACTION_UNITS)
            neutral = intensities(pop.mean, pop.mean, pop)
            assert all(v < 0.2 for v in neutral.values()), neutral
            assert (default_models_dir() / entry.parity_report).exists()
            continue
        if entry.file.endswith(".json"):  # the physiology stress model (JSON weights)
            from edge.physio.stress_model import StressModel, model_input_names

            m = StressModel.from_registry(model_id=mid)
            n_inputs = len(model_input_names(m.features))
            assert entry.inputs[0]["shape"] == [1, n_inputs]
            assert entry.inputs[0]["features"] == list(m.features)
            assert 0.0 < m.probability(np.zeros(n_inputs)) < 1.0
            assert (default_models_dir() / entry.parity_report).exists()
            continue
        model = reg.load(mid, threads=1)
        assert [list(i.shape) for i in model.inputs] == [i["shape"] for i in entry.inputs]
        assert model.inputs[0].dtype == "int8", "shipped models are full int8"
        x = np.zeros(model.inputs[0].shape, np.float32)
        outs = model.run(x)
        assert [list(o.shape) for o in outs] == [o["shape"] for o in entry.outputs]
        assert (default_models_dir() / entry.parity_report).exists()
        assert entry.licence and entry.source


def test_flipped_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    models, mid = tampered_copy(tmp_path)
    reg = Registry(models)
    with pytest.raises(ModelError) as err:
        reg.load(mid)
    assert str(models / reg.get(mid).file) in str(err.value)
    assert "does not match the manifest" in str(err.value)


def test_committed_model_files_stay_under_ten_megabytes() -> None:
    """Models are plain files in git (no LFS): each one, float twins included, < 10 MB."""
    files = [p for p in (ROOT / "models").rglob("*") if p.is_file()
             and "__pycache__" not in p.parts]
    assert any(p.suffix == ".tflite" for p in files)
    too_big = {str(p.relative_to(ROOT)): p.stat().st_size for p in files
               if p.stat().st_size >= 10_000_000}
    assert not too_big, too_big


def test_no_manifest_or_an_empty_one_is_an_error_naming_the_path(tmp_path: Path) -> None:
    """A registry that finds nothing fails loudly (the command line exits 65), never
    lists zero models as if all were well."""
    with pytest.raises(ModelError, match="no model manifest") as err:
        Registry(tmp_path)
    assert str(tmp_path / "manifest.json") in str(err.value)
    (tmp_path / "manifest.json").write_text('{"models": []}')
    with pytest.raises(ModelError, match="lists no model"):
        Registry(tmp_path)
    assert Registry(tmp_path, create=True).entries == {}  # a training script starting one


def test_shipped_models_are_found_as_package_data() -> None:
    from importlib import resources

    assert default_models_dir() == Path(str(resources.files("models")))
    assert (default_models_dir() / "manifest.json").is_file()



def _mapped_rss_bytes(path: Path) -> int:
    """Resident bytes of this process's mappings of `path` (/proc/self/smaps)."""
    target, total, inside = str(path.resolve()), 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and ":" in head[3]:  # a mapping's header line
            inside = len(head) == 6 and head[5] == target
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1]) * 1024
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux /proc only")
def test_loaded_model_hands_its_mapped_file_back_and_computes_the_same() -> None:
    """After XNNPACK has packed the weights, the mapped model file is released from
    RSS (the ensemble's 9 MB would otherwise be resident twice) and stays released
    while the model runs; its outputs are bit for bit those of an interpreter whose
    mapped file stays resident."""
    from edge.inference import interpreter_class

    reg = Registry()
    path = reg.verify("face_expression")
    model = reg.load("face_expression", 1)
    assert model.released_bytes >= path.stat().st_size
    x = np.random.default_rng(3).uniform(0, 255, model.inputs[0].shape).astype(np.float32)
    got = model.run(x)[0]
    assert _mapped_rss_bytes(path) < path.stat().st_size // 4  # invoke does not read it back

    resident = interpreter_class()[0](model_path=str(path), num_threads=1)
    resident.allocate_tensors()
    inp, out = resident.get_input_details()[0], resident.get_output_details()[0]
    scale, zero = inp["quantization"]
    q = np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"])
    resident.set_tensor(inp["index"], q)
    resident.invoke()
    y = resident.get_tensor(out["index"])
    if out["quantization"][0]:
        y = (y.astype(np.float32) - out["quantization"][1]) * out["quantization"][0]
    assert _mapped_rss_bytes(path) > path.stat().st_size // 2  # this one read its file
    np.testing.assert_array_equal(got, y.astype(np.float32))


def test_fixed_input_outputs_digest_each_model_itself() -> None:
    """`affectd outputs`, which the arm64 check compares bit for bit with x86: a row for
    every registered model, each the digest of that model's own outputs (no model stands
    in for another: the speech gate and prosody head once reported the stress model's),
    the same on a second run."""
    from edge.lab.outputs import model_outputs

    first = model_outputs()["models"]
    assert set(first) == set(Registry().entries)
    digests = [row["sha256"] for row in first.values()]
    assert len(set(digests)) == len(digests), first
    assert all(row["batches"] > 0 for row in first.values())
    assert model_outputs()["models"] == first
