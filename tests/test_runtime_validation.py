"""`advisor validate --runtime`: a recorded twin measurement (MLX / ORT GenAI / ExecuTorch on this machine, made
by benchmarks/runtime_twins.py) compared with the engine's prediction and stored — the runtime
need not be installed to check the comparison and the record; a real run is in
tests/test_runtime_twins.py (skipped without the runtime)."""

import json
from pathlib import Path

import pytest

from advisor.calibrate_from_runs import run_exclusion
from advisor.store import list_runs
from advisor.validate.runtime_validation import validate_runtime

DATA = Path(__file__).parent / "data" / "runtime_twins"


@pytest.mark.parametrize("name", ["mlx--smollm2-135m-instruct--4bit", "ort-genai--qwen2.5-0.5b-instruct--int4"])
def test_recorded_twin_compared_and_stored(catalog, tmp_path, name):
    runtime, model, fmt = name.split("--")
    record = json.loads((DATA / f"{name}.json").read_text())
    device = catalog.device("laptop-ryzen-7-7840u-16gb")  # any x86 CPU profile: the comparison is what is tested
    db = tmp_path / "runs.db"
    r = validate_runtime(runtime, model, fmt, device=device, catalog=catalog, db=db, record=record,
                         prompt_tokens=record["settings"]["prompt_tokens"], output_tokens=record["settings"]["output_tokens"])
    by_name = {c.name: c for c in r.comparisons}
    weights = by_name["weights (Σ tensor bytes)"]
    assert weights.predicted == weights.measured == sum(t["nbytes"] for t in record["layout"])
    assert {"prefill", "decode", "peak RSS (whole process)"} <= set(by_name)
    (run,) = list_runs(path=db)
    assert run.id == r.run_id and run.settings["runtime"] == runtime and run.backend == f"{runtime}:cpu" and run.synthetic
    # never fitted into llama.cpp's factors
    assert run_exclusion(run, catalog).startswith(f"a {runtime} run")


def test_recorded_executorch_twin_runs_on_xnnpack(catalog, tmp_path):
    """ExecuTorch's CPU backend is XNNPACK: the comparison uses that variant; its weights differ
    from the .pte's (tests/test_runtime_memory.py: EXECUTORCH_GAPS), its KV cache does not."""
    record = json.loads((DATA / "executorch--qwen2.5-0.5b-instruct--8da4w.json").read_text())
    db = tmp_path / "runs.db"
    r = validate_runtime("executorch", "qwen2.5-0.5b-instruct", "8da4w", device=catalog.device("laptop-ryzen-7-7840u-16gb"),
                         catalog=catalog, db=db, record=record, prompt_tokens=record["settings"]["prompt_tokens"],
                         output_tokens=record["settings"]["output_tokens"])
    by_name = {c.name: c for c in r.comparisons}
    assert by_name["weights (Σ tensor bytes)"].measured == sum(t["nbytes"] for t in record["layout"])
    # −0.016 %: the .pte's rotary tables and norm scalars, not predicted (+0.95 % before the catalog took
    # XNNPACK's bf16 group scales)
    assert by_name["weights (Σ tensor bytes)"].error_pct == pytest.approx(-0.016, abs=0.005)
    assert by_name["KV cache"].predicted == by_name["KV cache"].measured == record["measured"]["kv_cache_bytes"]
    (run,) = list_runs(path=db)
    assert run.backend == "executorch:xnnpack" and run.settings["backend"] == "xnnpack"
    samples = record["measured"]["decode_tokens_per_s"]["samples"]
    assert run.status == ("noisy" if max(samples) > 1.5 * min(samples) else "ok")  # this record: a busy machine
    assert run_exclusion(run, catalog)  # never fitted


def test_runtime_without_a_local_twin_is_one_clear_error(catalog, tmp_path):
    from advisor.errors import BadInputError

    with pytest.raises(BadInputError, match="no local twin for runtime 'mlc'; twins run here for: mlx, ort-genai, executorch, litert-lm, mnn$"):
        validate_runtime("mlc", "qwen3-0.6b", "q4f16_1", device=catalog.device("pixel-8"), catalog=catalog, db=tmp_path / "r.db")


def test_validate_help_names_every_runtime_with_a_twin(capsys):
    """The --runtime help listed mlx and ort-genai after the ExecuTorch twin came: it names every
    runtime advisor.validate.runtimes can build a twin for."""
    from advisor.cli import main
    from advisor.validate.runtimes import RUNTIME_MODULES

    assert main(["validate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in RUNTIME_MODULES), (RUNTIME_MODULES, text)


@pytest.mark.parametrize("name", ["llama.cpp", "LLAMA-CPP", "ggml", "llamacpp"])
def test_an_alias_of_llama_cpp_validates_llama_cpp(capsys, tmp_path, monkeypatch, name):
    """--runtime ggml (an alias the catalog gives llama.cpp) was read as another runtime: 'no local
    twin for runtime llama.cpp'. It takes llama.cpp's path, whose first check is the --gguf file."""
    from advisor.cli import main

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    missing = tmp_path / "none.gguf"
    assert main(["validate", "--model", "smollm2-135m-instruct", "--runtime", name, "--gguf", str(missing)]) == 1
    assert capsys.readouterr().err == f"Error: {missing}: file not found; check the --gguf path\n"
