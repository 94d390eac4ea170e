"""Real llama.cpp runs through llama-cpp-python on tiny synthetic twins (a few MB), and the fault
paths: a crash (retried without extra buffer types), a timeout, a refusal for memory, a corrupt
GGUF. Every outcome lands in the store."""

import importlib.util
import signal
from pathlib import Path

import pytest

from advisor.errors import DataFileError, RunError
from advisor.records import ModelSpec
from advisor.store import list_runs
from advisor.validate import runner
from advisor.validate.predicted_vs_measured import run_validation

#: Tests that build a twin or run llama.cpp: slow, and only with the [validate] extra. The others
#: (refusals, bad files, the child-process plumbing) run everywhere, on a catalog profile.
llama = [
    pytest.mark.slow,
    pytest.mark.extra,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gguf") is None,
                       reason="needs the [validate] extra (llama-cpp-python, gguf)"),
]


def needs_llama(test):
    for mark in llama:
        test = mark(test)
    return test

TINY = dict(
    id="tiny-llama", name="Tiny Llama (test)", family="test", publisher="test", hf_repo="test/tiny", gguf_arch="llama",
    license="Apache-2.0", license_class="permissive", release_date="2024-01", params_published="-", context_length=4096,
    max_position_embeddings=4096, n_layers=2, hidden_size=256, ffn_size=512, n_heads=4, n_kv_heads=2, head_dim=64,
    vocab_size=1024, tied_embeddings=False, attn_bias=False, qk_norm=False, norm="rms", ffn_gated=True, post_norms=False,
    sliding_window=0, swa_global_every=0, verified=True, source="test",
)


@pytest.fixture(scope="module")
def tiny_catalog(catalog):
    from dataclasses import replace

    from advisor.engine.tensors import count_params

    spec = ModelSpec.model_validate({**TINY, "params": 1})
    spec = ModelSpec.model_validate({**TINY, "params": count_params(spec)})
    return replace(catalog, models={**catalog.models, spec.id: spec})


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    import os

    from advisor.local import run_profile

    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("ADVISOR_HOME")
    os.environ["ADVISOR_HOME"] = str(home)
    try:
        dev, _ = run_profile(seconds=0.6, write=False)
    finally:
        if old is not None:
            os.environ["ADVISOR_HOME"] = old
    return dev


@pytest.fixture
def catalog_device(catalog):
    """A shipped profile: the checks before any run need a device, not a probe of this machine."""
    return catalog.device("raspberry-pi-5-8gb")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_TWIN_CACHE", str(tmp_path.parent / "twins-shared"))
    return tmp_path / "runs.db"


@needs_llama
@pytest.mark.parametrize("quant", ["F16", "Q8_0", "Q4_K_M"])
def test_real_run_matches_llama_cpp_buffers(tiny_catalog, device, env, quant):
    r = run_validation("tiny-llama", quant, device=device, context=512, prompt_tokens=64, output_tokens=8, repeats=2,
                       catalog=tiny_catalog, db=env)
    by = {c.name: c for c in r.comparisons}
    assert by["weights (GGUF tensor data)"].error_pct == 0  # the per-tensor sum is exact
    if not r.measured.get("extra_model_buffer_bytes"):  # no repacked copy: llama.cpp's buffer is the file's tensors
        buf = by["model buffers (llama.cpp)"]
        assert abs(buf.measured - buf.predicted) <= 64 * 1024  # per-tensor alignment padding and page rounding
    assert by["KV cache buffer"].error_pct == 0  # 512 cells × 2 layers × 2 × 128 × f16
    assert by["decode"].measured > 0 and by["prefill"].measured > 0 and by["time to first token"].measured > 0
    assert by["peak RSS vs total"].measured > 10 * 2**20
    assert r.synthetic and "SYNTHETIC" in r.notes[0]
    (run,) = [x for x in list_runs(path=env) if x.id == r.run_id]
    assert run.status == "ok" and run.measured["decode_tokens_per_s"] > 0 and run.weight_path


CRASH_ONCE = r"""
import json, os, signal, sys
args = json.loads(sys.argv[1])
if args["use_extra_bufts"]:
    os.kill(os.getpid(), signal.SIGSEGV)
""" + runner.CHILD.split("import llama_cpp\n", 1)[0] + "import llama_cpp\n" + runner.CHILD.split("import llama_cpp\n", 1)[1]


@needs_llama
def test_crash_is_recorded_and_retried_without_extra_buffer_types(tiny_catalog, device, env):
    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=4, repeats=1,
                       catalog=tiny_catalog, db=env, child_source=CRASH_ONCE)
    assert r.status == "ok" and "use_extra_bufts = False" in r.weight_path
    assert any("SIGSEGV" in n for n in r.notes)
    buf = {c.name: c for c in r.comparisons}["model buffers (llama.cpp)"]
    assert abs(buf.measured - buf.predicted) <= 64 * 1024  # no repack: llama.cpp's buffer = the file's tensors
    statuses = [(x.status, x.weight_path) for x in list_runs(path=env)]
    assert statuses[-2][0] == "crashed" and statuses[-1][0] == "ok"


@needs_llama
def test_a_crash_that_persists_is_an_error_not_a_traceback(tiny_catalog, device, env):
    always = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    with pytest.raises(RunError, match=r"the run crashed: llama.cpp crashed with SIGSEGV.*recorded as run"):
        run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=4, repeats=1,
                       catalog=tiny_catalog, db=env, child_source=always)
    assert [x.status for x in list_runs(path=env)][-2:] == ["crashed", "crashed"]


def test_timeout_stops_a_runaway_run():
    from advisor.validate.runner import RunSettings, run_child

    out = run_child(RunSettings(gguf=Path("x.gguf"), timeout_s=1.0), child_source="import time; time.sleep(30)")
    assert out.status == "timeout" and "timed out after 1 s" in out.error


def test_out_of_memory_kill_is_named():
    assert runner.describe_returncode(-signal.SIGKILL) == "killed by SIGKILL (likely out of memory)"


def test_refused_when_predicted_memory_exceeds_what_is_available(catalog, catalog_device, env):
    """Llama-3.1-8B with a 1M-token context needs ~128 GiB of KV cache: refused, recorded."""
    with pytest.raises(RunError, match=r"refused: the run needs ~.*GiB but only .* is available; free memory, lower --context, or pass --force"):
        run_validation("llama-3.1-8b-instruct", "Q4_K_M", device=catalog_device, gguf=_fake_gguf(env.parent), context=1_048_576,
                       prompt_tokens=16, output_tokens=4, catalog=catalog, db=env)
    assert list_runs(path=env)[-1].status == "refused"


def _fake_gguf(tmp: Path) -> Path:
    p = tmp / "header-only.gguf"
    p.write_bytes(b"GGUF" + b"\0" * 64)
    return p


def test_corrupt_gguf_is_a_clear_error(catalog, catalog_device, env, tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(DataFileError, match=r"not a GGUF file \(bad magic b'PK\\x03\\x04'\); pass a llama.cpp .gguf model"):
        run_validation("qwen3-0.6b", "Q4_K_M", device=catalog_device, gguf=bad, catalog=catalog, db=env)
    with pytest.raises(DataFileError, match="file not found; check the --gguf path"):
        run_validation("qwen3-0.6b", "Q4_K_M", device=catalog_device, gguf=tmp_path / "missing.gguf", catalog=catalog, db=env)


@needs_llama
def test_a_gguf_llama_cpp_cannot_load_fails_cleanly(catalog, device, env):
    """A file with the GGUF magic but garbage after it: llama.cpp refuses it; we report and record."""
    with pytest.raises(RunError, match=r"the run failed: llama.cpp exit code 1.*recorded as run"):
        run_validation("smollm2-135m-instruct", "Q4_K_M", device=device, gguf=_fake_gguf(env.parent), context=512,
                       prompt_tokens=16, output_tokens=4, catalog=catalog, db=env)
    assert list_runs(path=env)[-1].status == "failed"


def _busy_child(marker: Path | None) -> str:
    """llama.cpp's real run, with the machine made busy during the second repeat's decode (a
    sleep per token, as another process taking the core would): its repeats then disagree. With
    ``marker``, only the first attempt is busy."""
    src = runner.CHILD
    busy = "True" if marker is None else f"not os.path.exists({str(marker)!r})"
    src = src.replace("import llama_cpp\n", f"import llama_cpp\nBUSY = {busy}\n", 1)
    src = src.replace('for _ in range(args["repeats"]):', 'for _rep in range(args["repeats"]):')
    old = "    for tok in gen:\n        llm.eval([tok])\n"
    assert old in src and "BUSY" in src
    src = src.replace(old, "    for tok in gen:\n        llm.eval([tok])\n        if BUSY and _rep == 1:\n            time.sleep(0.05)\n")
    if marker is not None:
        src = src.replace("os._exit(0)", f"open({str(marker)!r}, 'w').close(); os._exit(0)")
    return src


def test_a_run_whose_repeats_disagree_is_measured_again_and_kept_out_of_calibration(tiny_catalog, device, env, tmp_path):
    from advisor.calibration import run_exclusion

    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=16, repeats=3,
                       catalog=tiny_catalog, db=env, child_source=_busy_child(None))
    assert r.status == "noisy" and any("NOISY" in n for n in r.notes)
    attempts = list_runs(path=env)[-2:]
    assert [x.status for x in attempts] == ["noisy", "noisy"]  # the first attempt and the re-measurement
    assert all(run_exclusion(x, tiny_catalog).startswith("stored as noisy") for x in attempts)
    assert max(attempts[-1].measured["decode_samples"]) > 1.5 * min(attempts[-1].measured["decode_samples"])


def test_a_noisy_first_attempt_is_replaced_by_a_quiet_one(tiny_catalog, device, env, tmp_path):
    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=16, repeats=3,
                       catalog=tiny_catalog, db=env, child_source=_busy_child(tmp_path / "busy-once"))
    attempts = list_runs(path=env)[-2:]
    assert [x.status for x in attempts] == ["noisy", r.status]
    assert any("measured again" in n for n in r.notes) and any(n.startswith("repeats: decode") for n in r.notes)
