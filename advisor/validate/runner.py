"""One measured run of a GGUF through llama-cpp-python, in its own subprocess.

The child loads the model (timed), evaluates a warm-up, then for each repeat clears the context,
processes a prompt of P tokens (timed: prefill rate and time to first token) and generates G
tokens one at a time (timed: decode rate). It reports medians, its peak RSS, and llama.cpp's own
log, from which the reported model/KV/compute buffer sizes are parsed.

A crash (llama.cpp can segfault, e.g. in the CPU weight-repack path), an out-of-memory kill or a
timeout never takes the caller down: it comes back as a RunOutcome with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = "@@ADVISOR_RESULT@@"
PROGRESS = "@@ADVISOR_PROGRESS@@"

#: Put in front of every child's source: the child dies with the advisor. ``kill -9`` of the
#: parent cannot be caught, so the child asks the kernel (Linux PR_SET_PDEATHSIG) for SIGKILL
#: when its parent goes, checks the parent did not go before it asked, and elsewhere watches its
#: parent id from a thread.
DIE_WITH_PARENT = r"""
import ctypes as _ctypes, os as _os, signal as _signal, threading as _threading, time as _time
_parent = int(_os.environ.get("ADVISOR_PARENT_PID") or _os.getppid())
try:
    _ctypes.CDLL(None, use_errno=True).prctl(1, int(_signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if _os.getppid() != _parent:
    _os._exit(1)
def _watch_parent():
    while True:
        _time.sleep(1.0)
        if _os.getppid() != _parent:
            _os._exit(1)
_threading.Thread(target=_watch_parent, daemon=True).start()
"""


def child_env() -> dict[str, str]:
    """The environment of a child that runs DIE_WITH_PARENT."""
    return {**os.environ, "ADVISOR_PARENT_PID": str(os.getpid())}


CHILD = r"""
import json, os, resource, statistics, sys, time
args = json.loads(sys.argv[1])
def progress(text):
    sys.stdout.write("@@ADVISOR_PROGRESS@@" + text + "\n"); sys.stdout.flush()
# A forked child inherits its parent's RSS high-water mark: reset it (Linux clear_refs 5) so the
# peak below is this run's own.
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
import llama_cpp
import llama_cpp.llama_cpp as low

if not args["use_extra_bufts"]:
    # llama-cpp-python has no keyword for it: patch the default model params it starts from
    _default = low.llama_model_default_params
    def _no_extra_bufts():
        p = _default()
        p.use_extra_bufts = False
        return p
    low.llama_model_default_params = _no_extra_bufts

kw = dict(model_path=args["gguf"], n_ctx=args["n_ctx"], n_batch=args["n_batch"], n_ubatch=args["n_ubatch"],
          n_threads=args["threads"], n_threads_batch=args["threads"], verbose=True, n_gpu_layers=0,
          # llama.cpp's own defaults, which the engine predicts; llama-cpp-python's differ
          # (it turns flash attention off and allocates full-size sliding-window caches)
          swa_full=False, flash_attn=args.get("flash_attn", True))
if args.get("type_k") is not None:
    kw["type_k"] = kw["type_v"] = args["type_k"]
t0 = time.perf_counter()
llm = llama_cpp.Llama(**kw)
load_s = time.perf_counter() - t0
progress(f"loaded in {load_s:.1f} s; warming up")
n_vocab = llm.n_vocab()
lo = min(1000, n_vocab // 4)
prompt = [lo + (i * 7919) % (n_vocab - lo) for i in range(args["prompt_tokens"])]
gen = [lo + (i * 104729) % (n_vocab - lo) for i in range(args["output_tokens"])]
# warm-up: a short prompt and a few generated tokens
llm.reset(); llm.eval(prompt[: min(32, len(prompt))]); [llm.eval([t]) for t in gen[:4]]
# CPU time the other processes of the machine took while the repeats ran (and a VM's stolen time):
# all CPUs' busy time less this process's own, over the wall time = cores used by others
from advisor.hardware import cpu_sample, foreign_cores
cpu0 = cpu_sample()
prefill, decode, ttft = [], [], []
for _ in range(args["repeats"]):
    llm.reset()
    llm._ctx.memory_clear(True) if hasattr(llm, "_ctx") and hasattr(llm._ctx, "memory_clear") else None
    t = time.perf_counter(); llm.eval(prompt); dt = time.perf_counter() - t
    prefill.append(len(prompt) / dt); ttft.append(dt)
    t = time.perf_counter()
    for tok in gen:
        llm.eval([tok])
    decode.append(len(gen) / (time.perf_counter() - t))
    progress(f"repeat {len(decode)}/{args['repeats']} done: prefill {statistics.median(prefill):.1f} tok/s, "
             f"decode {statistics.median(decode):.1f} tok/s so far")
foreign, window = foreign_cores(cpu0, cpu_sample())
window = window if foreign is not None else None
peak = None
try:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
except OSError:
    pass
if peak is None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
out = {"load_s": load_s, "prefill_tokens_per_s": statistics.median(prefill), "decode_tokens_per_s": statistics.median(decode),
       "ttft_s": statistics.median(ttft), "prefill_samples": prefill, "decode_samples": decode, "peak_rss_bytes": peak,
       "llama_cpp_python": llama_cpp.__version__, "n_ctx": llm.n_ctx(),
       "foreign_cpu_cores": None if foreign is None else round(foreign, 3), "cpu_count": os.cpu_count(),
       "repeats_wall_s": None if window is None else round(window, 3)}
sys.stdout.write("@@ADVISOR_RESULT@@" + json.dumps(out) + "\n"); sys.stdout.flush()
os._exit(0)  # skip teardown: llama.cpp can crash while freeing, after the numbers are out
"""


@dataclass
class RunSettings:
    gguf: Path
    n_ctx: int = 2048
    prompt_tokens: int = 256
    output_tokens: int = 64
    threads: int = 2
    repeats: int = 3
    n_batch: int = 512
    n_ubatch: int = 512
    type_k: int | None = None  # ggml type id for the KV cache (None: f16)
    use_extra_bufts: bool = True
    flash_attn: bool = True  # llama.cpp's "auto" resolves to on for the CPU backend
    timeout_s: float = 600.0

    def child_args(self) -> dict[str, Any]:
        return {
            "gguf": str(self.gguf), "n_ctx": self.n_ctx, "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens, "threads": self.threads, "repeats": self.repeats,
            "n_batch": self.n_batch, "n_ubatch": self.n_ubatch, "type_k": self.type_k,
            "use_extra_bufts": self.use_extra_bufts, "flash_attn": self.flash_attn,
        }


@dataclass
class RunOutcome:
    status: str  # ok | crashed | timeout | failed
    measured: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    error: str | None = None
    returncode: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def describe_returncode(rc: int) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        if -rc == signal.SIGKILL:
            return f"killed by {name} (likely out of memory)"
        return f"crashed with {name}"
    return f"exit code {rc}"


def run_child(settings: RunSettings, *, python: str | None = None, child_source: str = CHILD,
              progress: Callable[[str], None] | None = None) -> RunOutcome:
    """Run one measurement in a subprocess; never raises for a crash, a kill or a timeout.

    The child's progress lines go to ``progress`` as they come; its log (llama.cpp writes a lot)
    goes to a temporary file, not a pipe that could fill. The child dies with this process."""
    argv = [python or sys.executable, "-c", DIE_WITH_PARENT + child_source, json.dumps(settings.child_args())]
    stdout_lines: list[str] = []
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err_file, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", env=child_env())

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(PROGRESS):
                    if progress is not None:
                        progress(line[len(PROGRESS):].strip())
                else:
                    stdout_lines.append(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            returncode = proc.wait(timeout=settings.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join(5)
            return RunOutcome("timeout", log=_read_log(err_file), error=f"timed out after {settings.timeout_s:.0f} s")
        except BaseException:  # Ctrl-C: never leave the child running
            proc.kill()
            proc.wait()
            raise
        reader.join(5)
        log = _read_log(err_file)
    result = None
    for line in stdout_lines:
        if line.startswith(MARKER):
            try:
                result = json.loads(line[len(MARKER):])
            except ValueError:
                result = None
    if isinstance(result, dict):
        return RunOutcome("ok", measured=result, log=log, returncode=returncode)
    status = "crashed" if returncode < 0 else "failed"
    detail = "" if status == "crashed" else _last_error_line(log)
    return RunOutcome(status, log=log, returncode=returncode,
                      error=f"llama.cpp {describe_returncode(returncode)}" + (f": {detail}" if detail else ""))


def _read_log(fh: Any) -> str:
    fh.seek(0)
    return fh.read().decode("utf-8", errors="replace")


_NOISE = ("CPU :", "Model metadata", "Using fallback chat format", "llama_model_loader:", "print_info:", "load_tensors:")


def _last_error_line(stderr: str, limit: int = 240) -> str:
    """The most telling line of a failed run's log: the last one that says error/failed, else the last one."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.strip().startswith(_NOISE)]
    for ln in reversed(lines):
        if any(w in ln.lower() for w in ("error", "failed", "exception", "unable", "invalid")):
            return ln[:limit]
    return lines[-1][:limit] if lines else ""
