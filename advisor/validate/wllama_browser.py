"""wllama (llama.cpp in WebAssembly) measured in a real browser: headless Chromium on this machine.

A GGUF twin (:func:`advisor.validate.twin.build_twin`) is served with the @wllama/wllama npm
package's ``esm/`` files from a small HTTP server on 127.0.0.1 that sends the cross-origin
isolation headers (COOP ``same-origin``, COEP ``require-corp``) multi-threaded WebAssembly needs
(SharedArrayBuffer). Chromium (new headless mode) opens one page per run; the page fetches the
GGUF into a Blob, loads it with ``Wllama.loadModel`` (``n_gpu_layers: 0``: the CPU/WASM path, no
WebGPU in headless Chromium here) and runs ``createCompletion`` on a fixed prompt of token ids
(``cache_prompt: false``, ``ignore_eos``) a few times, returning llama.cpp's own ``timings``
(llama-server's prompt and predicted tok/s) and the page's wall time.

Memory, from outside the page:
  * the renderer process (Chromium's ``--type=renderer`` child; the page, its wllama worker and
    the worker's pthreads all live in it): RSS, PSS (``/proc/PID/smaps_rollup``) sampled every
    0.1 s, and VmHWM (the kernel's peak RSS) — before the model is fetched (the page with wllama's
    JS imported) and after loading and generating;
  * the wasm heap: ``Module.wasmMemory.buffer.byteLength`` evaluated inside wllama's worker
    (Chromium's DevTools protocol, auto-attached to the page's dedicated workers) — the
    WebAssembly.Memory llama.cpp's weights, KV cache and compute buffers are allocated from;
  * llama.cpp's own buffer lines (``CPU model buffer size``, ``llama_kv_cache: size``,
    ``CPU compute buffer size``), which wllama forwards from the worker to the page's logger.

No Playwright/Selenium: the DevTools protocol over the ``websockets`` package, as
tests/test_dashboard_browser.py does. Nothing is downloaded: the npm package must be unpacked
locally (``npm pack @wllama/wllama@3.13.0 && tar xzf wllama-wllama-3.13.0.tgz``; its folder is
given as ``wllama_dir`` or ``$ADVISOR_WLLAMA_DIR``).
"""

from __future__ import annotations

import http.server
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError

#: The package the catalog's wllama entry names (catalog/runtimes.toml).
WLLAMA_VERSION = "3.13.0"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--disable-extensions",
]
#: llama.cpp's buffer lines as wllama forwards them (llama_model_load_from_file / llama_context).
BUFFER_LINES = {
    "model_buffer_bytes": re.compile(r"CPU_Mapped model buffer size =\s*([\d.]+) MiB|CPU model buffer size =\s*([\d.]+) MiB"),
    "kv_cache_bytes": re.compile(r"llama_kv_cache: size =\s*([\d.]+) MiB"),
    "compute_buffer_bytes": re.compile(r"CPU compute buffer size =\s*([\d.]+) MiB"),
    "output_buffer_bytes": re.compile(r"CPU\s+output buffer size =\s*([\d.]+) MiB"),
}
KV_LINE = re.compile(r"llama_kv_cache: size =.*?\(\s*(\d+) cells,\s*(\d+) layers.*?K \((\w+)\):\s*([\d.]+) MiB, V \((\w+)\):\s*([\d.]+) MiB")

#: Run in each dedicated worker before its script: keeps every WebAssembly.Memory it makes
#: (multi-threaded build: new WebAssembly.Memory, shared) or instantiates (single-threaded: exported).
WATCH_MEMORY = """(() => { if (self.__wasmMemories) return; const mems = self.__wasmMemories = [];
const M = WebAssembly.Memory;
WebAssembly.Memory = function (d) { const m = new M(d); mems.push(m); return m; };
WebAssembly.Memory.prototype = M.prototype;
const keep = (r) => { const inst = r && (r.instance || r); try { for (const v of Object.values(inst.exports || {}))
  if (v instanceof M && !mems.includes(v)) mems.push(v); } catch (e) {} return r; };
const I = WebAssembly.instantiate; WebAssembly.instantiate = (...a) => I(...a).then(keep);
const IS = WebAssembly.instantiateStreaming; if (IS) WebAssembly.instantiateStreaming = (...a) => IS(...a).then(keep);
})()"""

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>wllama twin</title></head><body>
<script type="module">
import { Wllama } from '/esm/index.js';
const logs = [];
const keep = (level) => (...args) => logs.push(level + ' ' + args.map(String).join(' '));
let wllama = null;
window.bench = {
  logs,
  ready: true,
  async load(cfg) {
    const t0 = performance.now();
    const blob = await (await fetch(cfg.url)).blob();
    const file = new File([blob], 'model.gguf');
    const t1 = performance.now();
    wllama = new Wllama({ default: '/esm/wasm/wllama.wasm' },
      { logger: { debug: keep('debug'), log: keep('log'), warn: keep('warn'), error: keep('error') } });
    const params = { n_ctx: cfg.n_ctx, n_gpu_layers: 0 };
    if (cfg.n_threads) params.n_threads = cfg.n_threads;
    await wllama.loadModel([file], params);
    const t2 = performance.now();
    return { fetch_s: (t1 - t0) / 1000, load_s: (t2 - t1) / 1000, file_bytes: blob.size,
             multithread: wllama.isMultithread(), threads: wllama.getNumThreads(),
             hardware_concurrency: navigator.hardwareConcurrency, cross_origin_isolated: self.crossOriginIsolated,
             webgpu: !!navigator.gpu, context: wllama.getLoadedContextInfo().n_ctx,
             n_vocab: wllama.getLoadedContextInfo().n_vocab, n_batch: wllama.getLoadedContextInfo().n_batch, n_ubatch: wllama.getLoadedContextInfo().n_ubatch };
  },
  async generate(cfg) {
    const t0 = performance.now();
    const out = await wllama.createCompletion({ prompt: cfg.prompt, max_tokens: cfg.max_tokens, ignore_eos: true,
                                                cache_prompt: false, temperature: 0, seed: 1 });
    const wall = (performance.now() - t0) / 1000;
    return { wall_s: wall, timings: out.timings, usage: out.usage };
  },
};
</script></body></html>
"""


def wllama_dir(path: str | Path | None = None) -> Path:
    """The unpacked @wllama/wllama package (the folder holding ``esm/index.js``)."""
    raw = path or os.environ.get("ADVISOR_WLLAMA_DIR")
    if not raw:
        raise BadInputError("no @wllama/wllama package given: unpack it (npm pack @wllama/wllama@3.13.0; "
                            "tar xzf wllama-wllama-3.13.0.tgz) and pass its folder or set ADVISOR_WLLAMA_DIR")
    folder = Path(raw)
    for candidate in (folder, folder / "package"):
        if (candidate / "esm" / "index.js").is_file() and (candidate / "esm" / "wasm" / "wllama.wasm").is_file():
            return candidate
    raise BadInputError(f"{folder} holds no esm/index.js and esm/wasm/wllama.wasm of @wllama/wllama")


def wllama_version(folder: Path) -> str:
    return json.loads((folder / "package.json").read_text())["version"]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# --------------------------------------------------------------------------- the server

def _handler(esm: Path, models: dict[str, Path]):
    types = {".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".gguf": "application/octet-stream"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, body_path: Path | None, body: bytes | None, ctype: str) -> None:
            size = body_path.stat().st_size if body_path else len(body or b"")
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(size))
            # cross-origin isolation: SharedArrayBuffer, so wllama's multi-threaded path
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body_path:
                with body_path.open("rb") as f:
                    shutil.copyfileobj(f, self.wfile, 1 << 20)
            else:
                self.wfile.write(body or b"")

        def do_GET(self):  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                return self._send(None, PAGE.encode(), "text/html; charset=utf-8")
            if path.startswith("/models/") and path[len("/models/"):] in models:
                return self._send(models[path[len("/models/"):]], None, types[".gguf"])
            if path.startswith("/esm/"):
                target = (esm / path[len("/esm/"):]).resolve()
                if target.is_file() and esm.resolve() in target.parents:
                    return self._send(target, None, types.get(target.suffix, "application/octet-stream"))
            self.send_error(404)

    return Handler


@dataclass
class Server:
    """The page, wllama's esm/ and the GGUF files on 127.0.0.1, with COOP/COEP headers."""

    esm: Path
    models: dict[str, Path]
    httpd: http.server.ThreadingHTTPServer = field(init=False)

    def __post_init__(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.esm, self.models))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- the browser

class DevTools:
    """One page's DevTools websocket, with its dedicated workers auto-attached (flat sessions)."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.workers: dict[str, str] = {}  # sessionId -> worker url
        self.console: list[str] = []

    def _handle_event(self, msg: dict) -> None:
        if msg.get("method") == "Target.attachedToTarget":
            info, session = msg["params"]["targetInfo"], msg["params"]["sessionId"]
            if info.get("type") == "worker":
                self.workers[session] = info.get("url", "")
                # paused at its start (waitForDebuggerOnStart): note its WebAssembly memories, then run it
                self._send("Runtime.evaluate", session, expression=WATCH_MEMORY)
            self._send("Runtime.runIfWaitingForDebugger", session)
        elif msg.get("method") == "Target.detachedFromTarget":
            self.workers.pop(msg["params"].get("sessionId"), None)

    def _send(self, method: str, session: str | None, **params) -> int:
        msg_id = next(self.ids)
        payload: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            payload["sessionId"] = session
        self.ws.send(json.dumps(payload))
        return msg_id

    def call(self, method: str, session: str | None = None, timeout: float = 600, **params) -> dict:
        msg_id = self._send(method, session, **params)
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(1.0, deadline - time.monotonic())))
            if msg.get("id") == msg_id and msg.get("sessionId") == session:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._handle_event(msg)

    def js(self, expression: str, session: str | None = None, timeout: float = 600):
        result = self.call("Runtime.evaluate", session=session, timeout=timeout, expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"page error: {text}")
        return result.get("result", {}).get("value")

    def wasm_heap_bytes(self) -> int | None:
        """The byteLength of the largest WebAssembly.Memory wllama's worker created or instantiated
        (its Module is not a global: the constructors are watched from the worker's start)."""
        for session in list(self.workers):
            try:
                value = self.js("self.__wasmMemories && self.__wasmMemories.length ? "
                                "Math.max(...self.__wasmMemories.map(m => m.buffer.byteLength)) : null", session=session, timeout=30)
            except (RuntimeError, TimeoutError):
                continue
            if value:
                return int(value)
        return None


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


def renderer_pids(browser_pid: int) -> list[int]:
    """Chromium's renderer processes under ``browser_pid`` (any depth: the zygote forks them)."""
    found, todo = [], [browser_pid]
    while todo:
        pid = todo.pop()
        for child in _children(pid):
            todo.append(child)
            try:
                cmd = (Path("/proc") / str(child) / "cmdline").read_bytes()
            except OSError:
                continue
            # zygote-forked children rewrite their argv into one space-separated string
            if b"--type=renderer" in cmd and b"--extension-process" not in cmd:
                found.append(child)
    return found


def process_memory(pid: int) -> dict[str, int]:
    """RSS, PSS (smaps_rollup) and VmHWM (peak RSS) of one process, bytes."""
    out: dict[str, int] = {}
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
        for line in (Path("/proc") / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"rss_bytes": out.get("VmRSS", 0), "peak_rss_bytes": out.get("VmHWM", 0), "pss_bytes": out.get("Pss", 0)}


class MemorySampler:
    """The renderer's largest PSS and RSS, sampled every ``interval`` s in a thread (the renderer
    processes looked up again every ``lookup_s``: walking /proc is what costs)."""

    def __init__(self, browser_pid: int, interval: float = 0.25, lookup_s: float = 2.0):
        self.browser_pid, self.interval, self.lookup_s = browser_pid, interval, lookup_s
        self.max_pss = self.max_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pids: list[int] = []
        looked = 0.0
        while not self._stop.is_set():
            if time.monotonic() - looked > self.lookup_s:
                pids, looked = renderer_pids(self.browser_pid), time.monotonic()
            for pid in pids:
                mem = process_memory(pid)
                self.max_pss = max(self.max_pss, mem["pss_bytes"])
                self.max_rss = max(self.max_rss, mem["rss_bytes"])
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def renderer_memory(browser_pid: int) -> dict[str, int]:
    """The page's renderer (the largest by RSS when Chromium keeps a spare one)."""
    mems = [process_memory(pid) | {"pid": pid} for pid in renderer_pids(browser_pid)]
    return max(mems, key=lambda m: m["rss_bytes"]) if mems else {}


class Browser:
    """Headless Chromium with one page open at ``url``."""

    def __init__(self, url: str, timeout: float = 60):
        binary = chromium_path()  # started below; closed by close(), or here if starting fails
        if not binary:
            raise BadInputError("no chromium on the PATH (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="wllama-chromium-")
        self.proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", url],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.ws = None
        try:
            self._open(url, timeout)
        except BaseException:
            self.close()
            raise

    def _open(self, url: str, timeout: float) -> None:
        from websockets.sync.client import connect

        ws_url = self._devtools_url(timeout)
        with_page = None
        deadline = time.monotonic() + timeout
        import urllib.request

        port = ws_url.split(":")[2].split("/")[0]
        while with_page is None and time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page" and t.get("url", "").startswith(url)]
            with_page = pages[0]["webSocketDebuggerUrl"] if pages else None
            time.sleep(0.2)
        if with_page is None:
            raise RuntimeError(f"chromium opened no page at {url}")
        self.ws = connect(with_page, max_size=None, open_timeout=timeout)
        self.devtools = DevTools(self.ws)
        self.devtools.call("Target.setAutoAttach", autoAttach=True, waitForDebuggerOnStart=True, flatten=True)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise RuntimeError("the page did not import wllama's esm/index.js")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            return bool(self.devtools.js("!!(window.bench && window.bench.ready)"))
        except RuntimeError:  # no execution context yet: the page is still loading
            return False

    def _devtools_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if "DevTools listening on" in line:
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep draining
                return line.split("DevTools listening on", 1)[1].strip()
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("chromium did not start its DevTools endpoint")

    def close(self) -> None:
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


# --------------------------------------------------------------------------- one run

def buffer_sizes(logs: list[str]) -> dict[str, Any]:
    """llama.cpp's own buffer sizes (bytes) and the KV cache's cells/dtypes from its log lines."""
    out: dict[str, Any] = {}
    for line in logs:
        for key, rx in BUFFER_LINES.items():
            m = rx.search(line)
            if m:
                mib = float(next(g for g in m.groups() if g))
                out[key] = out.get(key, 0) + round(mib * 1024 * 1024)
        m = KV_LINE.search(line)
        if m:
            out["kv_cells"], out["kv_layers"] = int(m.group(1)), int(m.group(2))
            out["kv_k_dtype"], out["kv_v_dtype"] = m.group(3), m.group(5)
    return out


def prompt_text(gguf: Path, n_tokens: int) -> str:
    """A text that llama.cpp tokenizes into exactly ``n_tokens`` (BOS included) with ``gguf``'s
    vocabulary. wllama 3.13.0's completion takes a string prompt only (a list of token ids fails
    in llama-server's JSON: "type must be string, but is array")."""
    import llama_cpp

    vocab = llama_cpp.Llama(str(gguf), vocab_only=True, verbose=False)
    text = ""
    while len(vocab.tokenize(text.encode())) < n_tokens:
        text += "abcdefghij"[len(text) % 10]
    if len(vocab.tokenize(text.encode())) != n_tokens:
        raise BadInputError(f"no text of {n_tokens} tokens for {gguf.name}")
    return text


def measure(gguf: Path, *, n_ctx: int, threads: int | None, prompt_tokens: int = 128, output_tokens: int = 64,
            repeats: int = 2, folder: str | Path | None = None) -> dict[str, Any]:
    """One headless-Chromium run of ``gguf`` in wllama: load, ``repeats`` completions, memory.

    ``threads``: wllama's ``n_threads`` (None: its default, ``floor(hardwareConcurrency / 2)``).
    Returns the page's figures (load, per-repeat llama.cpp timings and wall time), llama.cpp's
    buffer sizes from its log, the wasm heap, and the renderer's memory before the model was
    fetched, after loading, after generating, and its peaks (sampled PSS/RSS, VmHWM).
    """
    pkg = wllama_dir(folder)
    server = Server(pkg / "esm", {"model.gguf": Path(gguf)})
    browser = None
    try:
        browser = Browser(server.url + "/")
        d = browser.devtools
        base = renderer_memory(browser.proc.pid)
        text = prompt_text(Path(gguf), prompt_tokens)
        sampler = MemorySampler(browser.proc.pid)
        try:
            cfg = {"url": "/models/model.gguf", "n_ctx": n_ctx, "n_threads": threads}
            load = d.js(f"window.bench.load({json.dumps(cfg)})")
            loaded = renderer_memory(browser.proc.pid)
            heap_loaded = d.wasm_heap_bytes()
            # a short warm-up, then the repeats (cache_prompt: false, so each evaluates the whole prompt)
            warmup = d.js(f"window.bench.generate({json.dumps({'prompt': text[:16], 'max_tokens': 4})})")
            runs = [d.js(f"window.bench.generate({json.dumps({'prompt': text, 'max_tokens': output_tokens})})")
                    for _ in range(repeats)]
            after = renderer_memory(browser.proc.pid)
            heap_after = d.wasm_heap_bytes()
            logs = d.js("window.bench.logs")
        finally:
            sampler.stop()
        return {
            "settings": {"n_ctx": n_ctx, "threads": threads, "prompt_tokens": prompt_tokens,
                         "output_tokens": output_tokens, "repeats": repeats},
            "page": load,
            "runs": runs, "warmup": warmup,
            "llama_buffers": buffer_sizes(logs),
            "wasm_heap_bytes": {"loaded": heap_loaded, "after_generate": heap_after},
            "renderer": {"before_model": base, "loaded": loaded, "after_generate": after,
                         "sampled_peak_pss_bytes": sampler.max_pss, "sampled_peak_rss_bytes": sampler.max_rss},
            "log_tail": [line for line in logs if any(k in line for k in ("buffer size", "kv_cache", "n_ctx", "threads", "system_info", "n_seq"))][:40],
        }
    finally:
        if browser:
            browser.close()
        server.close()


