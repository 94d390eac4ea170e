"""A runtime that loads a model's architecture but computes another function (ModelSpec.miscomputed_by:
llama.cpp's bitnet graph applies SiLU where BitNet b1.58 2B4T uses ReLU²) is never offered it."""

import shutil


from tests.test_cli import run


def test_a_miscomputing_runtime_is_not_offered_the_model(capsys):
    code, out, err = run(capsys, "recommend", "--ram", "4GB", "--model", "bitnet-b1.58-2b-4t")
    assert code == 3
    assert ("bitnet-b1.58-2b-4t: llama.cpp loads its bitnet architecture but computes another function than the "
            "trained model's") in out + err


def test_runs_model_refuses_only_the_runtimes_named(catalog):
    from advisor.engine import runtimes as rt

    model = catalog.model("bitnet-b1.58-2b-4t")
    q2k = catalog.file_type("Q2_K")
    assert model.miscomputed_by == ("llama.cpp", "wllama")
    assert not rt.runs_model(q2k, model)
    assert rt.runs_model(q2k, model.model_copy(update={"miscomputed_by": ()}))  # the same model, computed right: offered
    assert rt.runs_model(q2k, catalog.model("bitnet-b1.58-3b"))  # SiLU, as llama.cpp computes it
    reason = rt.architecture_reason(model, catalog.runtimes, [q2k])  # llama.cpp's file type considered
    assert (reason.kind, reason.name, reason.category) == ("miscomputed", "bitnet", "llama.cpp")


def test_an_unknown_runtime_in_miscomputed_by_is_one_error(tmp_path, monkeypatch, capsys):
    from tests.conftest import SNAPSHOT_DATA

    root = tmp_path / "data"
    shutil.copytree(SNAPSHOT_DATA, root)
    models = root / "catalog" / "models.toml"
    models.write_text(models.read_text().replace('miscomputed_by = ["llama.cpp", "wllama"]', 'miscomputed_by = ["llama.cp"]'))
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(root))
    code, out, err = run(capsys, "models")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: models.toml: model bitnet-b1.58-2b-4t names unknown runtimes in miscomputed_by: llama.cp; use runtimes.toml ids such as")


def test_predict_by_name_sizes_it_and_says_so(capsys):
    import json

    code, out, err = run(capsys, "predict", "--model", "bitnet-b1.58-2b-4t", "--ram", "4GB", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["memory"]["weights_bytes"] > 0
    assert data["notes"][0].startswith("llama.cpp loads its bitnet architecture but computes another function")
    code, out, err = run(capsys, "predict", "--model", "bitnet-b1.58-3b", "--ram", "8GB", "--context", "2048", "--format", "json")
    assert code == 0, err
    assert not any("computes another function" in n for n in json.loads(out)["notes"])
