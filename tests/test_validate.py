"""Real llama.cpp runs through llama-cpp-python on tiny synthetic twins (a few MB), and the fault
paths: a crash (retried without extra buffer types), a timeout, a refusal for memory, a corrupt
GGUF. Every outcome lands in the store."""

import importlib.util
import os
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
def tiny_catalog(snapshot_catalog):
    from dataclasses import replace

    from advisor.engine.tensors import count_params

    spec = ModelSpec.model_validate({**TINY, "params": 1})
    spec = ModelSpec.model_validate({**TINY, "params": count_params(spec)})
    return replace(snapshot_catalog, models={**snapshot_catalog.models, spec.id: spec})


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
    else:  # the copy is predicted to llama.cpp's 0.01 MiB; the buffers hold the mapped file and it
        copy = by["repacked copy (CPU_REPACK)"]
        assert abs(copy.measured - copy.predicted) <= 0.01 * 2**20
        buf = by["model buffers (llama.cpp), with the repacked copy"]
        # the mapped range leaves out a repacked tensor at either end of the file: at most that much below
        assert buf.predicted - copy.predicted <= buf.measured <= buf.predicted + 64 * 1024
    assert by["KV cache buffer"].error_pct == 0  # 512 cells × 2 layers × 2 × 128 × f16
    assert by["decode"].measured > 0 and by["prefill"].measured > 0 and by["time to first token"].measured > 0
    (rss,) = [c for name, c in by.items() if name.startswith("peak RSS vs total")]
    assert rss.measured > 10 * 2**20
    assert r.synthetic and "SYNTHETIC" in r.notes[0]
    (run,) = [x for x in list_runs(path=env) if x.id == r.run_id]
    # a measured run: "noisy" when this (shared, 2-core) machine was busy during its repeats — the
    # buffers above do not depend on that, and noisy runs are kept out of calibration elsewhere
    assert run.status in ("ok", "noisy") and run.measured["decode_tokens_per_s"] > 0 and run.weight_path
    from advisor.hardware import probe_machine

    assert run.device_fingerprint == probe_machine().fingerprint  # which machine measured it


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


@needs_llama
@pytest.mark.parametrize("page_cache", ["warm", "cold"])
def test_load_time_from_a_warm_and_a_cold_page_cache(tiny_catalog, device, env, page_cache):
    """validate loads the file from the page cache asked for and compares with engine.load's figure."""
    from advisor.engine.evaluate import evaluate
    from advisor.records import Workload

    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=16, output_tokens=4, repeats=1,
                       page_cache=page_cache, catalog=tiny_catalog, db=env)
    (load,) = [c for c in r.comparisons if c.name.startswith("load time")]
    assert load.name == f"load time ({page_cache} page cache)"
    est = evaluate(tiny_catalog.models["tiny-llama"], tiny_catalog.file_type("Q8_0"), device,
                   Workload(context_tokens=512, prompt_tokens=16, output_tokens=4, threads=device.cpu.big_cores), tiny_catalog)
    assert load.predicted == pytest.approx(est.load.cold_s if page_cache == "cold" else est.load.warm_s)
    assert 0 < load.measured < 60
    (run,) = [x for x in list_runs(path=env) if x.id == r.run_id]
    assert run.settings["page_cache"] == page_cache and run.predicted["load_s"] == pytest.approx(load.predicted)


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
    # the retry is one run, not a recorded crash each time: the crash is kept in the run's settings
    last = list_runs(path=env)[-1]
    assert last.id == r.run_id and last.status == "ok" and "SIGSEGV" in last.settings["first_attempt"]
    assert not [x for x in list_runs(path=env) if x.status == "crashed" and x.id > r.run_id - 1 and x.id != r.run_id]
    # the retry ran as --no-repack: so do its prediction and the observations calibrate fits
    from advisor.calibrate_from_runs import _observations
    from advisor.engine.evaluate import evaluate
    from advisor.records import Workload

    plain = evaluate(tiny_catalog.models["tiny-llama"], tiny_catalog.file_type("Q8_0"), device,
                     Workload(context_tokens=512, prompt_tokens=32, output_tokens=4, threads=device.cpu.big_cores, cpu_repack=False),
                     tiny_catalog)
    assert last.predicted["prefill_tokens_per_s"] == pytest.approx(plain.speed.prefill_tokens_per_s)
    # the observations themselves, whether or not calibrate would keep this run (on a busy machine
    # a tiny twin can run 20× below its prediction, and calibrate leaves such a run out)
    obs = _observations(last, tiny_catalog)
    assert obs and all(o.workload.cpu_repack is False for o in obs)


@needs_llama
def test_a_crash_that_persists_is_an_error_not_a_traceback(tiny_catalog, device, env):
    always = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    before = len(list_runs(path=env))
    with pytest.raises(RunError, match=r"the run crashed: llama.cpp crashed with SIGSEGV \(first attempt, with repacking: "
                                       r"llama.cpp crashed with SIGSEGV\) \(recorded as run \d+\)"):
        run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=4, repeats=1,
                       catalog=tiny_catalog, db=env, child_source=always)
    runs = list_runs(path=env)
    assert len(runs) == before + 1 and runs[-1].status == "crashed"


def test_timeout_stops_a_runaway_run():
    from advisor.validate.runner import RunSettings, run_child

    out = run_child(RunSettings(gguf=Path("x.gguf"), timeout_s=1.0), child_source="import time; time.sleep(30)")
    assert out.status == "timeout" and "timed out after 1 s" in out.error


def test_out_of_memory_kill_is_named():
    assert runner.describe_returncode(-signal.SIGKILL) == "killed by SIGKILL (likely out of memory)"


def test_refused_when_predicted_memory_exceeds_what_is_available(catalog, catalog_device, env):
    """Llama-3.1-8B with a 1M-token context needs ~128 GiB of KV cache: refused, recorded."""
    with pytest.raises(RunError, match=r"refused: the run needs ~.*GiB but only .* is available; free memory, lower --context, or pass --force"):
        run_validation("llama-3.1-8b-instruct", "Q4_K_M", device=catalog_device, gguf=_header_gguf(env.parent), context=1_048_576,
                       prompt_tokens=16, output_tokens=4, catalog=catalog, db=env)
    assert list_runs(path=env)[-1].status == "refused"


def _fake_gguf(tmp: Path) -> Path:
    p = tmp / "header-only.gguf"
    p.write_bytes(b"GGUF" + b"\0" * 64)
    return p


def _header_gguf(tmp: Path, *, arch: str = "llama", layers: int = 32, hidden: int = 4096, file_type: int | None = None) -> Path:
    """A well-formed GGUF that declares an architecture (and a general.file_type) and holds one small tensor."""
    import gguf
    import numpy as np

    p = tmp / f"{arch}-{layers}x{hidden}-{file_type}.gguf"
    w = gguf.GGUFWriter(str(p), arch)
    w.add_block_count(layers)
    w.add_embedding_length(hidden)
    if file_type is not None:
        w.add_file_type(file_type)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return p


def test_corrupt_gguf_is_a_clear_error(catalog, catalog_device, env, tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(DataFileError, match=r"not a GGUF file \(bad magic b'PK\\x03\\x04'\); pass a llama.cpp .gguf model"):
        run_validation("qwen3-0.6b", "Q4_K_M", device=catalog_device, gguf=bad, catalog=catalog, db=env)
    with pytest.raises(DataFileError, match="file not found; check the --gguf path"):
        run_validation("qwen3-0.6b", "Q4_K_M", device=catalog_device, gguf=tmp_path / "missing.gguf", catalog=catalog, db=env)


def test_a_gguf_with_a_valid_magic_and_a_damaged_body_is_bad_input(catalog, catalog_device, env):
    """The GGUF magic with garbage after it is bad input (exit 1), refused before anything runs or
    is recorded."""
    before = len(list_runs(path=env))
    with pytest.raises(DataFileError, match=r"header-only.gguf: a damaged GGUF file \(.*\); download or convert it again"):
        run_validation("smollm2-135m-instruct", "Q4_K_M", device=catalog_device, gguf=_fake_gguf(env.parent), context=512,
                       prompt_tokens=16, output_tokens=4, catalog=catalog, db=env)
    assert len(list_runs(path=env)) == before


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
    from advisor.calibrate_from_runs import run_exclusion

    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=16, repeats=3,
                       catalog=tiny_catalog, db=env, child_source=_busy_child(None))
    assert r.status == "noisy" and any("NOISY" in n for n in r.notes)
    attempts = list_runs(path=env)[-2:]
    assert [x.status for x in attempts] == ["noisy", "noisy"]  # the first attempt and the re-measurement
    assert all(run_exclusion(x, tiny_catalog).startswith("stored as noisy") for x in attempts)
    assert max(attempts[-1].measured["decode_samples"]) > 1.5 * min(attempts[-1].measured["decode_samples"])


def _contended_child(marker: Path | None) -> str:
    """llama.cpp's real run with real contention: a process spinning on each core runs beside the
    repeats (started after the warm-up, killed after the last repeat), as another job would. Its
    repeats agree with each other; the CPU the spinners took is what is measured. With ``marker``,
    only the first attempt has them."""
    src = runner.CHILD
    start = "True" if marker is None else f"not os.path.exists({str(marker)!r})"
    old = 'prefill, decode, ttft = [], [], []\n'
    assert old in src
    src = src.replace(old, old + (
        "import subprocess as _sp\n"
        f"_spinners = [_sp.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(os.cpu_count() or 1)] if {start} else []\n"
        "time.sleep(0.5 if _spinners else 0)\n"), 1)  # spinning before the repeats start (a Python starts in ~50 ms)
    old = "foreign, window = foreign_cores(cpu0, cpu_sample())\n"
    assert old in src
    src = src.replace(old, "[p.kill() for p in _spinners]; [p.wait() for p in _spinners]\n" + old, 1)
    if marker is not None:
        src = src.replace("os._exit(0)", f"open({str(marker)!r}, 'w').close(); os._exit(0)")
    return src


@needs_llama
def test_a_run_on_a_busy_machine_is_measured_again_and_kept_out_of_calibration(tiny_catalog, device, env):
    """Repeats can agree on a busy machine (a test suite beside the run: SmolLM2-135M decoded at
    3 tok/s, 1.14× apart, where ~80 is quiet): the CPU time other processes took during the
    repeats is measured, and a run they took more than the spare cores of is noisy."""
    import os

    from advisor.calibrate_from_runs import run_exclusion

    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=64, repeats=3,
                       threads=os.cpu_count(), catalog=tiny_catalog, db=env, child_source=_contended_child(None))
    attempts = list_runs(path=env)[-2:]
    assert [x.status for x in attempts] == ["noisy", "noisy"] and r.status == "noisy"
    assert all(x.measured["foreign_cpu_cores"] > 0.25 for x in attempts)
    assert any(n.startswith("BUSY twice — the machine was busy: other processes used") for n in r.notes), r.notes
    assert all(run_exclusion(x, tiny_catalog).startswith("stored as noisy") for x in attempts)


@needs_llama
def test_a_busy_first_attempt_is_replaced_by_a_quiet_one(tiny_catalog, device, env, tmp_path):
    import os

    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=64, repeats=3,
                       threads=os.cpu_count(), catalog=tiny_catalog, db=env, child_source=_contended_child(tmp_path / "busy-once"))
    attempts = list_runs(path=env)[-2:]
    assert attempts[0].status == "noisy" and "the machine was busy" in attempts[0].error
    assert attempts[1].measured["foreign_cpu_cores"] < attempts[0].measured["foreign_cpu_cores"]
    assert any("measured again" in n for n in r.notes)


def test_busy_means_more_than_the_spare_cores():
    from advisor.engine.calibrate import is_busy

    assert not is_busy(None, 2, 2) and not is_busy(0.2, 2, 2) and is_busy(0.3, 2, 2)
    assert not is_busy(1.2, 4, 3) and is_busy(1.3, 4, 3)  # one core spare: another job may take it
    assert not is_busy(0.9, None, 2)
    assert not is_busy(1.0, 2, 2, window_s=0.1) and is_busy(1.0, 2, 2, window_s=2.0)  # a 0.1 s window is not judged


def test_a_noisy_first_attempt_is_replaced_by_a_quiet_one(tiny_catalog, device, env, tmp_path):
    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=16, repeats=3,
                       catalog=tiny_catalog, db=env, child_source=_busy_child(tmp_path / "busy-once"))
    attempts = list_runs(path=env)[-2:]
    assert [x.status for x in attempts] == ["noisy", r.status]
    assert any("measured again" in n for n in r.notes) and any(n.startswith("repeats: decode") for n in r.notes)


def test_a_noisy_attempt_whose_second_measurement_fails_is_kept_once(tiny_catalog, device, env, tmp_path):
    """Busy the first time, crashed the second: the first attempt stands, stored once as noisy (it
    was recorded a second time, so `runs list` showed the run twice)."""
    marker = tmp_path / "busy-once"
    src = _busy_child(marker).replace("args = json.loads(sys.argv[1])\n",
                                      f"args = json.loads(sys.argv[1])\nif os.path.exists({str(marker)!r}):\n    os._exit(7)\n", 1)
    assert "os._exit(7)" in src
    before = len(list_runs(path=env))
    r = run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=16, repeats=3,
                       catalog=tiny_catalog, db=env, child_source=src)
    runs = list_runs(path=env)[before:]
    assert [x.status for x in runs] == ["noisy"] and r.run_id == runs[0].id and r.status == "noisy"
    assert any(n.startswith("measuring again crashed") or n.startswith("measuring again failed") for n in r.notes), r.notes


def test_a_truncated_gguf_is_bad_input(tiny_catalog, device, env, tmp_path):
    from advisor.validate.twin import build_twin

    twin = build_twin(tiny_catalog.model("tiny-llama"), "Q8_0", env.parent / "twins-shared")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(twin.read_bytes()[: twin.stat().st_size // 2])
    before = len(list_runs(path=env))
    with pytest.raises(DataFileError, match=r"cut.gguf: a damaged GGUF file"):
        run_validation("tiny-llama", "Q8_0", device=device, gguf=cut, catalog=tiny_catalog, db=env)
    assert len(list_runs(path=env)) == before


@pytest.mark.parametrize(
    "arch, layers, hidden, message",
    [
        ("llama", 2, 256, "is not llama-3.1-8b-instruct: its header says layers 2, hidden size 256 (the catalog model has 32, 4096)"),
        ("qwen2", 32, 4096, "is not llama-3.1-8b-instruct: its header says architecture qwen2 (the catalog model has llama)"),
    ],
)
def test_a_gguf_of_another_model_is_bad_input(catalog, device, env, tmp_path, arch, layers, hidden, message):
    from advisor.errors import BadInputError

    path = _header_gguf(tmp_path, arch=arch, layers=layers, hidden=hidden)
    before = len(list_runs(path=env))
    with pytest.raises(BadInputError) as err:
        run_validation("llama-3.1-8b-instruct", "Q4_K_M", device=device, gguf=path, catalog=catalog, db=env)
    assert str(err.value) == f"{path} {message}; pass the --model the file is, or the file of that model"
    assert len(list_runs(path=env)) == before


@pytest.mark.parametrize("file_type, refused", [(1, True), (7, True), (15, False), (1 | 1024, False), (999, False)])
def test_a_gguf_of_another_quantization_is_bad_input(catalog, device, env, tmp_path, file_type, refused):
    """An F16 file validated as Q4_K_M was stored (and fitted) as Q4_K_M; the header's
    general.file_type says what it is (a guessed or unknown one is not judged)."""
    from advisor.errors import BadInputError
    from advisor.validate.predicted_vs_measured import check_quantization, read_gguf_header

    path = _header_gguf(tmp_path, file_type=file_type)
    before = len(list_runs(path=env))
    if refused:
        named = {1: "F16", 7: "Q8_0"}[file_type]
        with pytest.raises(BadInputError) as err:
            run_validation("llama-3.1-8b-instruct", "Q4_K_M", device=device, gguf=path, catalog=catalog, db=env)
        assert str(err.value) == (f"{path} is {named} (its header's general.file_type), not Q4_K_M: pass --quant {named}, "
                                  "or the Q4_K_M file")
        assert len(list_runs(path=env)) == before
    else:
        check_quantization(read_gguf_header(path), catalog.file_type("Q4_K_M"), catalog.file_types, path)


def test_validate_progress_reports_each_repeat(tiny_catalog, device, env):
    said: list[str] = []
    run_validation("tiny-llama", "Q8_0", device=device, context=512, prompt_tokens=32, output_tokens=4, repeats=2,
                   catalog=tiny_catalog, db=env, progress=said.append)
    repeats = [line for line in said if "repeat" in line and "tok/s so far" in line]
    assert [line.split(":")[0].strip() for line in repeats] == ["repeat 1/2 done", "repeat 2/2 done"]


KILL_PARENT = r"""
from pathlib import Path
from advisor.validate.runner import RunSettings, run_child
child = "import os, time\nopen(os.environ['CHILD_PID_FILE'], 'w').write(str(os.getpid()))\ntime.sleep(60)"
run_child(RunSettings(gguf=Path("x.gguf"), timeout_s=60), child_source=child)
"""


def test_kill_9_of_the_parent_does_not_orphan_the_llama_cpp_child(tmp_path):
    import os
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", KILL_PARENT], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "CHILD_PID_FILE": str(pid_file), "PYTHONPATH": str(Path(__file__).parents[1])})
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")


def test_a_killed_twin_build_leaves_no_temporary(tmp_path):
    import subprocess
    import sys

    from advisor.validate.twin import clean_stale_temporaries

    final = tmp_path / "twin-llama-x-F16.gguf"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{final.name}.{dead.pid}.abc123.tmp"
    stale.write_bytes(b"\0" * 4096)
    live = tmp_path / f"{final.name}.{os.getpid()}.def456.tmp"
    live.write_bytes(b"\0")
    assert clean_stale_temporaries(final) == [stale]
    assert not stale.exists() and live.exists()


def test_validate_sets_llama_cpp_buffers_against_the_weights_plus_the_repacked_copy():
    """Where llama.cpp repacked weights, its model buffers hold the mapped file and the copy, and
    peak RSS both: compare() sets each against the prediction plus the predicted copy, and the copy
    against the CPU_REPACK buffer. A run stored before the copy was predicted compares as it did."""
    from advisor.validate.predicted_vs_measured import compare

    mib = 2**20
    pred = {"weights_bytes": 728 * mib, "kv_cache_bytes": 64 * mib, "compute_buffer_bytes": 258 * mib,
            "total_bytes": 1150 * mib, "repacked_bytes": 522 * mib}
    meas = {"gguf_tensor_bytes": 728 * mib, "model_buffer_bytes": 1241 * mib, "extra_model_buffer_bytes": 522 * mib,
            "kv_buffer_bytes": 64 * mib, "compute_buffer_bytes": 258 * mib, "peak_rss_bytes": 1407 * mib}
    rows = {c.name: c for c in compare(pred, meas)}
    assert rows["repacked copy (CPU_REPACK)"].error_pct == pytest.approx(0.0)
    assert rows["model buffers (llama.cpp), with the repacked copy"].predicted == 1250 * mib
    assert rows["peak RSS vs total + repacked copy"].predicted == 1672 * mib
    old = {k: v for k, v in pred.items() if k != "repacked_bytes"}
    rows = {c.name: c for c in compare(old, meas)}
    assert "repacked copy (CPU_REPACK)" not in rows
    assert rows["model buffers (llama.cpp)"].predicted == 728 * mib and rows["peak RSS vs total"].predicted == 1150 * mib
