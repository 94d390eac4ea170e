"""Import of llama-bench output: real outputs recorded from llama.cpp's own llama-bench (built
from the llama-cpp-python 0.3.36 source, build 0c1e570) on the SmolLM2-135M Q4_K_M twin, on this
machine, with `-p 64 -n 16 -r 2 -t 2 --repack 0 -o json|jsonl|csv`."""

import json
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.errors import BadInputError, DataFileError
from advisor.store import list_runs
from advisor.validate.bench_import import ftype_from_model_type, parse_llama_bench, read_llama_bench
from advisor.validate.importer import import_llama_bench

DATA = Path(__file__).parent / "data" / "llama-bench"


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_parse_recorded_outputs(fmt):
    rows = read_llama_bench(DATA / f"smollm2-135m-q4_k_m.{fmt}")
    assert [r.test for r in rows] == ["pp", "tg"]
    pp, tg = rows
    assert (pp.n_prompt, pp.n_gen, tg.n_prompt, tg.n_gen) == (64, 0, 0, 16)
    assert pp.ftype == tg.ftype == "Q4_K_M"
    assert pp.model_n_params == 134515008 and pp.n_threads == 2 and pp.n_ubatch == 512
    assert pp.tokens_per_s > 0 and tg.tokens_per_s > 0 and pp.build.startswith("0c1e570")


def test_the_three_formats_agree_on_the_model():
    sizes = {fmt: read_llama_bench(DATA / f"smollm2-135m-q4_k_m.{fmt}")[0].model_size_bytes for fmt in ("json", "jsonl", "csv")}
    assert len(set(sizes.values())) == 1


def test_llama_bench_model_size_equals_our_weight_prediction(catalog):
    """llama-bench reports the tensor bytes it loaded: our per-tensor sum must be exact."""
    from advisor.engine.memory import weights_bytes

    size = read_llama_bench(DATA / "smollm2-135m-q4_k_m.json")[0].model_size_bytes
    assert weights_bytes(catalog.model("smollm2-135m-instruct"), catalog.file_type("Q4_K_M"), catalog.ggml_types) == size


@pytest.mark.parametrize(
    "model_type, ftype",
    [("llama 256M Q4_K - Medium", "Q4_K_M"), ("qwen2 0.5B Q8_0", "Q8_0"), ("llama 8B Q5_K - Small", "Q5_K_S"),
     ("phi3 3B IQ4_XS - 4.25 bpw", "IQ4_XS"), ("llama 1B IQ3_S mix - 3.66 bpw", "IQ3_M"), ("gemma3 1B F16", "F16"),
     ("llama 7B Q2_K - Medium", "Q2_K"), ("llama 7B all F32", "F32")],
)
def test_ftype_names(model_type, ftype):
    assert ftype_from_model_type(model_type) == ftype


@pytest.mark.parametrize(
    "text, message",
    [("", "empty; expected llama-bench output"), ("[{\"n_prompt\": 5}]", "a row has no avg_ts"),
     ("{not json", "not valid JSON"), ("a,b\n1,2\n", "not llama-bench output: no avg_ts column")],
)
def test_bad_files(text, message):
    with pytest.raises(DataFileError, match=message):
        parse_llama_bench(text, "x")


def test_import_records_runs_with_predictions(tmp_path, catalog):
    db = tmp_path / "runs.db"
    ids = import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", device_id="raspberry-pi-5-8gb",
                             model_id="smollm2-135m-instruct", catalog=catalog, db=db)
    runs = list_runs(path=db)
    assert [r.id for r in runs] == ids and len(ids) == 2
    pp, tg = runs
    assert pp.source == "llama-bench" and pp.device_id == "raspberry-pi-5-8gb" and not pp.synthetic
    assert pp.measured["prefill_tokens_per_s"] > 0 and pp.predicted["prefill_tokens_per_s"] > 0
    assert tg.measured["decode_tokens_per_s"] > 0 and tg.settings["n_gen"] == 16


def test_import_needs_a_device_and_a_known_model(catalog, tmp_path):
    with pytest.raises(BadInputError, match="exactly one of --device ID or --device-file FILE"):
        import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", catalog=catalog, db=tmp_path / "d.db")
    with pytest.raises(BadInputError, match="cannot tell which catalog model '/tmp/twincache/twin-llama-c41dadd209f3220a-Q4_K_M.gguf' is; pass --model ID"):
        import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", device_id="raspberry-pi-5-8gb", catalog=catalog, db=tmp_path / "d.db")


def test_runs_cli_import_list_export(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    assert main(["runs", "import", str(DATA / "smollm2-135m-q4_k_m.csv"), "--device", "galaxy-s24-ultra",
                 "--model", "smollm2-135m-instruct"]) == 0
    assert "imported 2 measurements" in capsys.readouterr().out
    assert main(["runs", "list", "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert {r["device_id"] for r in runs} == {"galaxy-s24-ultra"}
    out = tmp_path / "runs.csv"
    assert main(["runs", "export", "--format", "csv", "-o", str(out)]) == 0
    assert out.read_text().count("\n") == 3
    assert main(["runs", "export", "--format", "csv", "-o", str(out)]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["runs", "show", str(runs[0]["id"])]) == 0
    assert json.loads(capsys.readouterr().out)["device_id"] == "galaxy-s24-ultra"
    assert main(["runs", "show", "999"]) == 1
    assert "no run with id 999" in capsys.readouterr().err
