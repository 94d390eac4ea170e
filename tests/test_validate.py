"""Real llama.cpp runs through llama-cpp-python on tiny synthetic twins (a few MB), and the fault
paths: a crash (retried without extra buffer types), a timeout, a refusal for memory, a corrupt
GGUF. Every outcome lands in the store."""

import signal
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from advisor.errors import DataFileError, RunError  # noqa: E402
from advisor.records import ModelSpec  # noqa: E402
from advisor.store import list_runs  # noqa: E402
from advisor.validate import runner  # noqa: E402
from advisor.validate.validate import run_validation  # noqa: E402

pytestmark = pytest.mark.slow

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
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_TWIN_CACHE", str(tmp_path.parent / "twins-shared"))
    return tmp_path / "runs.db"


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


@pytest.mark.parametrize("flash_attn", ["on", "off"])
def test_flash_attention_setting_is_run_predicted_and_recorded(tiny_catalog, device, env, flash_attn):
    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=4, repeats=1,
                       flash_attn=flash_attn, catalog=tiny_catalog, db=env)
    assert r.measured["flash_attn"] is (flash_attn == "on")  # what llama.cpp's log says it used
    (run,) = [x for x in list_runs(path=env) if x.id == r.run_id]
    assert run.settings["flash_attn"] == flash_attn and run.measured["flash_attn"] is (flash_attn == "on")
    by = {c.name: c for c in r.comparisons}
    from advisor.engine.empirical import guess_compute_buffer_bytes

    assert by["compute buffer"].predicted == guess_compute_buffer_bytes(
        tiny_catalog.models["tiny-llama"], 512, 512, flash_attn=flash_attn == "on")


CRASH_ONCE = r"""
import json, os, signal, sys
args = json.loads(sys.argv[1])
if args["use_extra_bufts"]:
    os.kill(os.getpid(), signal.SIGSEGV)
""" + runner.CHILD.split("import llama_cpp\n", 1)[0] + "import llama_cpp\n" + runner.CHILD.split("import llama_cpp\n", 1)[1]


def test_crash_is_recorded_and_retried_without_extra_buffer_types(tiny_catalog, device, env):
    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=4, repeats=1,
                       catalog=tiny_catalog, db=env, child_source=CRASH_ONCE)
    assert r.status == "ok" and "use_extra_bufts = False" in r.weight_path
    assert any("SIGSEGV" in n for n in r.notes)
    buf = {c.name: c for c in r.comparisons}["model buffers (llama.cpp)"]
    assert abs(buf.measured - buf.predicted) <= 64 * 1024  # no repack: llama.cpp's buffer = the file's tensors
    statuses = [(x.status, x.weight_path) for x in list_runs(path=env)]
    assert statuses[-2][0] == "crashed" and statuses[-1][0] == "ok"


def test_a_crash_that_persists_is_an_error_not_a_traceback(tiny_catalog, device, env):
    always = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    with pytest.raises(RunError, match=r"the run crashed: llama.cpp crashed with SIGSEGV.*recorded as run"):
        run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=4, repeats=1,
                       catalog=tiny_catalog, db=env, child_source=always)
    assert [x.status for x in list_runs(path=env)][-2:] == ["crashed", "crashed"]


def test_timeout_stops_a_runaway_run(tiny_catalog, device, env):
    from advisor.validate.runner import RunSettings, run_child

    out = run_child(RunSettings(gguf=Path("x.gguf"), timeout_s=1.0), child_source="import time; time.sleep(30)")
    assert out.status == "timeout" and "timed out after 1 s" in out.error


def test_out_of_memory_kill_is_named():
    assert runner.describe_returncode(-signal.SIGKILL) == "killed by SIGKILL (likely out of memory)"


def test_refused_when_predicted_memory_exceeds_what_is_available(catalog, device, env):
    """Llama-3.1-8B with a 1M-token context needs ~128 GiB of KV cache: refused, recorded."""
    with pytest.raises(RunError, match=r"refused: the run needs ~.*GiB but only .* is available; free memory, lower --context, or pass --force"):
        run_validation("llama-3.1-8b-instruct", "Q4_K_M", device=device, gguf=_fake_gguf(env.parent), context=1_048_576,
                       prompt_tokens=16, output_tokens=4, catalog=catalog, db=env)
    assert list_runs(path=env)[-1].status == "refused"


def _fake_gguf(tmp: Path) -> Path:
    p = tmp / "header-only.gguf"
    p.write_bytes(b"GGUF" + b"\0" * 64)
    return p


def test_corrupt_gguf_is_a_clear_error(catalog, device, env, tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(DataFileError, match=r"not a GGUF file \(bad magic b'PK\\x03\\x04'\); pass a llama.cpp .gguf model"):
        run_validation("qwen3-0.6b", "Q4_K_M", device=device, gguf=bad, catalog=catalog, db=env)
    with pytest.raises(DataFileError, match="file not found; check the --gguf path"):
        run_validation("qwen3-0.6b", "Q4_K_M", device=device, gguf=tmp_path / "missing.gguf", catalog=catalog, db=env)


def test_a_gguf_llama_cpp_cannot_load_fails_cleanly(catalog, device, env):
    """A file with the GGUF magic but garbage after it: llama.cpp refuses it; we report and record."""
    with pytest.raises(RunError, match=r"the run failed: llama.cpp exit code 1.*recorded as run"):
        run_validation("smollm2-135m-instruct", "Q4_K_M", device=device, gguf=_fake_gguf(env.parent), context=512,
                       prompt_tokens=16, output_tokens=4, catalog=catalog, db=env)
    assert list_runs(path=env)[-1].status == "failed"
