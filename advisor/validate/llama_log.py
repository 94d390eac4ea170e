"""Parse llama.cpp's verbose load log (what it prints to stderr while loading a model and
creating a context) into the buffer sizes it reports.

Pure text in, dataclass out. The wording follows llama.cpp as bundled with llama-cpp-python
0.3.36, e.g.::

    load_tensors:          AMX model buffer size =  1906.88 MiB
    load_tensors:   CPU_Mapped model buffer size =  1907.39 MiB
    llama_context: n_ctx                 = 2048
    llama_context: flash_attn            = auto
    llama_kv_cache_iswa: creating     SWA KV cache, size = 1024 cells
    llama_kv_cache: size =   22.00 MiB (  1024 cells,  22 layers,  1/1 seqs), K (f16):   11.00 MiB, V (f16):   11.00 MiB
    resolve_fused_ops: Flash Attention enabled
    sched_reserve:        CPU compute buffer size =   518.75 MiB

and tolerates the older names (``llama_kv_cache_unified``, ``llama_new_context_with_model``,
``llama_init_from_model``, ``flash_attn = 1``). Sizes are printed in MiB with two decimals, so
every byte count here is exact only to about ±5 KiB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MIB = 1 << 20


def _bytes(mib: str) -> int:
    return round(float(mib) * MIB)


@dataclass(frozen=True, slots=True)
class KvCacheInfo:
    """One KV cache llama.cpp allocated. ``kind``: ``"all"`` (one cache for every layer),
    ``"non-swa"`` / ``"swa"`` (the two caches of an interleaved sliding-window model)."""

    kind: str
    size_bytes: int
    cells: int
    layers: int
    k_type: str
    k_bytes: int
    v_type: str
    v_bytes: int


@dataclass(frozen=True, slots=True)
class LlamaBuffers:
    model_buffers: dict[str, int] = field(default_factory=dict)  # buffer name -> bytes
    kv_caches: tuple[KvCacheInfo, ...] = ()
    compute_buffers: dict[str, int] = field(default_factory=dict)
    #: recurrent-state buffers of hybrid/recurrent models ("llama_memory_recurrent: CPU RS buffer size = …")
    recurrent_buffers: dict[str, int] = field(default_factory=dict)
    output_buffers: dict[str, int] = field(default_factory=dict)
    n_ctx: int | None = None  # what llama.cpp allocated (after its padding)
    n_ctx_seq: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    n_ctx_train: int | None = None
    n_swa: int | None = None
    flash_attn_setting: str | None = None  # as configured: "auto", "enabled", "disabled"
    flash_attn: bool | None = None  # what it resolved to (None: not reported)
    swa_full: bool | None = None  # None: no SWA cache
    file_size_bytes: int | None = None
    file_type: str | None = None
    build_info: str | None = None
    system_info: str | None = None

    @property
    def model_buffer_bytes(self) -> int:
        """All model buffers (mapped file + repacked copies such as CPU_REPACK / AMX)."""
        return sum(self.model_buffers.values())

    @property
    def extra_model_buffer_bytes(self) -> int:
        """Model buffers other than the mapped/plain ones: weights repacked into a copy."""
        return sum(b for name, b in self.model_buffers.items() if name not in ("CPU", "CPU_Mapped"))

    @property
    def kv_buffer_bytes(self) -> int:
        return sum(c.size_bytes for c in self.kv_caches)

    @property
    def k_bytes(self) -> int:
        return sum(c.k_bytes for c in self.kv_caches)

    @property
    def v_bytes(self) -> int:
        return sum(c.v_bytes for c in self.kv_caches)

    @property
    def swa_kv_bytes(self) -> int:
        return sum(c.size_bytes for c in self.kv_caches if c.kind == "swa")

    @property
    def recurrent_state_bytes(self) -> int:
        return sum(self.recurrent_buffers.values())

    @property
    def compute_buffer_bytes(self) -> int:
        return sum(self.compute_buffers.values())


_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_MODEL_BUF = re.compile(rf"^\S*:\s+(\S+) model buffer size\s*=\s*{_NUM} MiB", re.MULTILINE)
_COMPUTE_BUF = re.compile(rf"^\S*:\s+(\S+) compute buffer size\s*=\s*{_NUM} MiB", re.MULTILINE)
_RS_BUF = re.compile(rf"^\S*:\s+(\S+) RS buffer size\s*=\s*{_NUM} MiB", re.MULTILINE)
_OUTPUT_BUF = re.compile(rf"^\S*:\s+(\S+)\s+output buffer size\s*=\s*{_NUM} MiB", re.MULTILINE)
_KV_KIND = re.compile(r"creating\s+(non-SWA|SWA) KV cache", re.IGNORECASE)
_KV_SIZE = re.compile(
    rf"^llama_kv_cache\w*:\s+size\s*=\s*{_NUM} MiB \(\s*(\d+) cells,\s*(\d+) layers,[^)]*\),\s*"
    rf"K \((\w+)\):\s*{_NUM} MiB,\s*V \((\w+)\):\s*{_NUM} MiB",
)
_CTX_FIELD = re.compile(r"^(?:llama_context|llama_new_context_with_model|llama_init_from_model):\s+(\w+)\s*=\s*(\S+)\s*$", re.MULTILINE)
_FA_RESOLVED = re.compile(r"flash[ _]att(?:ention|n)\b[^\n]*?\b(enabled|disabled)\b", re.IGNORECASE)
_FA_AUTO = re.compile(r"flash_attn\s*(?:=|is)\s*(?:auto\s*->|set to)\s*(enabled|disabled|true|false|1|0)", re.IGNORECASE)
_PRINT_INFO = re.compile(r"^print_info:\s+([\w .]+?)\s*=\s*(.+?)\s*$", re.MULTILINE)
_BUILD = re.compile(r"^(?:\S+:\s+)?build(?: info)?\s*[:=]\s*(.+)$", re.MULTILINE)
_SYSTEM = re.compile(r"^(?:\S+:\s+)?(?:system_info:\s*)?(CPU : .+)$", re.MULTILINE)
_FILE_SIZE = re.compile(rf"{_NUM} (MiB|GiB)")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_llama_log(text: str) -> LlamaBuffers:
    """Read the buffer sizes out of a llama.cpp verbose log. Missing items stay empty/None."""
    model: dict[str, int] = {}
    for name, mib in _MODEL_BUF.findall(text):
        model[name] = model.get(name, 0) + _bytes(mib)
    compute: dict[str, int] = {}
    for name, mib in _COMPUTE_BUF.findall(text):
        compute[name] = _bytes(mib)  # the last reserve wins (it is re-reserved after a resize)
    output = {name: _bytes(mib) for name, mib in _OUTPUT_BUF.findall(text)}
    recurrent: dict[str, int] = {}
    for name, mib in _RS_BUF.findall(text):
        recurrent[name] = recurrent.get(name, 0) + _bytes(mib)

    kv: list[KvCacheInfo] = []
    kind = "all"
    swa_full: bool | None = None
    for line in text.splitlines():
        m = _KV_KIND.search(line)
        if m:
            kind = m.group(1).lower()
            continue
        if "full-size SWA cache" in line:
            swa_full = True
        m = _KV_SIZE.search(line)
        if m:
            size, cells, layers, kt, kb, vt, vb = m.groups()
            kv.append(KvCacheInfo(kind, _bytes(size), int(cells), int(layers), kt, _bytes(kb), vt, _bytes(vb)))
    if swa_full is None and any(c.kind == "swa" for c in kv):
        swa_full = False

    ctx: dict[str, str] = {}
    for key, value in _CTX_FIELD.findall(text):
        ctx.setdefault(key, value)
    info: dict[str, str] = {}
    for key, value in _PRINT_INFO.findall(text):
        info.setdefault(key.strip(), value)

    setting = ctx.get("flash_attn")
    if setting in ("1", "true"):
        setting = "enabled"
    elif setting in ("0", "false"):
        setting = "disabled"
    resolved: bool | None = None
    for m in _FA_RESOLVED.finditer(text):
        resolved = m.group(1).lower() == "enabled"  # the last word wins (auto -> resolved)
    m = _FA_AUTO.search(text)
    if m:
        resolved = m.group(1).lower() in ("enabled", "true", "1")
    if resolved is None and setting in ("enabled", "disabled"):
        resolved = setting == "enabled"

    file_size = None
    if "file size" in info:
        fm = _FILE_SIZE.search(info["file size"])
        if fm:
            file_size = round(float(fm.group(1)) * (MIB if fm.group(2) == "MiB" else 1 << 30))
    build = _BUILD.search(text)
    system = _SYSTEM.search(text)
    return LlamaBuffers(
        model_buffers=model,
        kv_caches=tuple(kv),
        compute_buffers=compute,
        recurrent_buffers=recurrent,
        output_buffers=output,
        n_ctx=_int(ctx.get("n_ctx")),
        n_ctx_seq=_int(ctx.get("n_ctx_seq") or ctx.get("n_ctx_per_seq")),
        n_batch=_int(ctx.get("n_batch")),
        n_ubatch=_int(ctx.get("n_ubatch")),
        n_ctx_train=_int(info.get("n_ctx_train")),
        n_swa=_int(info.get("n_swa")),
        flash_attn_setting=setting,
        flash_attn=resolved,
        swa_full=swa_full,
        file_size_bytes=file_size,
        file_type=info.get("file type"),
        build_info=build.group(1).strip() if build else None,
        system_info=system.group(1).strip() if system else None,
    )
