"""Typed records: catalog entries (validated, frozen pydantic models) and engine results
(frozen dataclasses, cheap to build in the grid).

Sizes inside records are integers of bytes; bandwidths GB/s (10^9 B/s) as published; compute
GFLOPS/TFLOPS as published. Units are parsed in ``advisor.units`` only.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
import types
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from advisor import inputs as lim
from advisor.engine.arrays import Num, maximum
from advisor.errors import BadInputError
from advisor.units import MAX_NUMBER, MIB, bus_bandwidth_gbs, parse_memory_size, parse_size


def _size(value: object) -> int:
    try:
        return parse_size(value)  # type: ignore[arg-type]
    except Exception as exc:  # pydantic wants ValueError to report the field
        raise ValueError(str(exc)) from None


def _memory_size(value: object) -> int:
    try:
        return parse_memory_size(value, what="size")  # type: ignore[arg-type]
    except BadInputError as exc:
        raise ValueError(str(exc)) from None


ByteSize = Annotated[int, BeforeValidator(_size)]
#: A device's RAM (and VRAM): at least 64 MiB (``ram = 4`` is a forgotten unit, not a device).
DeviceMemorySize = Annotated[int, BeforeValidator(_memory_size)]
Basis = Literal["datasheet", "derived", "measured", "estimated", "calibrated"]


def _takes_number_not_bool(annotation: Any) -> bool:
    """The field holds an int or a float (or None) and never a bool."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return bool(args) and all(_takes_number_not_bool(a) for a in args)
    return False


def refuse_bool_for_number(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """``bandwidth_gbs = true`` is a slip, not 1 GB/s: pydantic's lax mode reads a bool as 1 or 0
    in a number field, so a file's true/false given for a number is refused, the field named."""
    if isinstance(value, bool) and info.field_name is not None \
            and _takes_number_not_bool(model.model_fields[info.field_name].annotation):
        raise ValueError(f"{str(value).lower()} is not a number; give a number (true/false are for yes/no fields)")
    return value


class Record(BaseModel):
    # allow_inf_nan=False: "inf" or "nan" in a file is refused with the field named
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)


# --------------------------------------------------------------------------- models


class QualityEntry(Record):
    benchmark: str
    shots: int = 0
    value: float
    variant: Literal["base", "instruct"]
    harness: str = ""
    source: str
    verified: bool = True


#: llama.cpp architectures the tensor inventory knows (advisor/engine/tensors.py).
GgufArch = Literal[
    "llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "stablelm", "granite", "openelm",
    "smollm3", "phi2", "gptneox",  # dense, non-llama layouts
    "minicpm",  # dense, the llama layout with muP scales (and LongRoPE factors: 2 × head_dim/2 F32, not inventoried)
    # dense BitNet b1.58: llama's layout plus two sub-layer RMS norms, attn_sub_norm {hidden} before
    # attn_output and ffn_sub_norm {ffn} before ffn_down; no output matrix (llama.cpp multiplies by
    # token_embd); its optional per-matrix "scale" tensors are never written by the converter
    "bitnet",
    "qwen3moe", "olmoe", "granitemoe", "gpt-oss", "phimoe",  # mixture of experts
    "deepseek2",  # MLA attention + MoE with shared experts and leading dense layers
    "gemma3n",  # per-layer embeddings, AltUp, LAuReL, KV shared across the last layers
    "lfm2", "lfm2moe",  # hybrid: short-convolution layers beside attention layers (lfm2moe also MoE)
    "granitehybrid",  # hybrid: Mamba2 layers beside attention layers, dense or MoE FFN
]
GGUF_ARCHS: tuple[str, ...] = get_args(GgufArch)


class FileTensor(Record):
    """One tensor of a GGUF file's tensor table: name, ggml shape (ne0 first) and ggml type."""

    name: str
    shape: tuple[int, ...]
    ggml_type: str


class ModelSpec(Record):
    """One model with its exact architecture (from config.json) and published quality.

    Mixture of experts (``n_experts`` > 0): every layer from ``n_dense_layers`` on has
    ``n_experts`` routed experts of width ``expert_ffn_size``, ``n_experts_used`` of them per
    token, plus an always-active shared expert of width ``shared_expert_ffn_size`` (0 = none);
    the first ``n_dense_layers`` layers keep a dense FFN of ``ffn_size``.

    Hybrid layers: a layer whose ``n_kv_heads_per_layer`` entry is 0 has no attention and no KV
    cache (llama.cpp's own convention, ``is_recr(il) = n_head_kv(il) == 0``); with
    ``shortconv_l_cache`` > 0 it is an LFM2 gated short convolution that keeps
    ``hidden × (l_cache − 1)`` F32 values of state per sequence; with ``ssm_d_state`` > 0 it is a
    Mamba2 layer (d_inner = 2 × hidden, llama.cpp's only supported expansion) whose state is
    ``(d_conv − 1) × (d_inner + 2 × n_group × d_state) + d_state × d_inner`` F32 values.

    ``file_tensors``: the exact tensor table of a GGUF file (``--gguf-header``); when set it is
    the inventory and its types are the weights. ``file_type``: that file's type (a catalog
    FileType id): the only GGUF file type the model is offered in (``runtimes.runs_model``).
    """

    id: str
    name: str
    family: str
    publisher: str
    hf_repo: str
    gguf_arch: GgufArch
    license: str
    license_class: Literal["permissive", "restricted", "noncommercial"]
    release_date: str
    params: int = Field(gt=0, le=lim.MAX_PARAMS)
    params_published: str
    context_length: int = Field(gt=0, le=lim.MAX_CONTEXT_TOKENS)
    max_position_embeddings: int = Field(gt=0, le=lim.MAX_CONTEXT_TOKENS)
    n_layers: int = Field(gt=0, le=lim.MAX_LAYERS)
    hidden_size: int = Field(gt=0, le=lim.MAX_WIDTH)
    ffn_size: int = Field(gt=0, le=lim.MAX_WIDTH)
    n_heads: int = Field(gt=0, le=lim.MAX_HEADS)
    n_kv_heads: int = Field(gt=0, le=lim.MAX_HEADS)
    head_dim: int = Field(gt=0, le=lim.MAX_WIDTH)
    vocab_size: int = Field(gt=0, le=lim.MAX_VOCAB)
    tied_embeddings: bool
    attn_bias: bool
    qk_norm: bool
    norm: Literal["rms", "layer"]
    ffn_gated: bool
    post_norms: bool
    sliding_window: int = Field(ge=0, le=lim.MAX_CONTEXT_TOKENS)
    swa_global_every: int = Field(ge=0, le=lim.MAX_LAYERS)
    n_heads_per_layer: tuple[Annotated[int, Field(ge=0, le=lim.MAX_HEADS)], ...] | None = None
    n_kv_heads_per_layer: tuple[Annotated[int, Field(ge=0, le=lim.MAX_HEADS)], ...] | None = None
    ffn_size_per_layer: tuple[Annotated[int, Field(ge=0, le=lim.MAX_WIDTH)], ...] | None = None
    n_experts: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    n_experts_used: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    expert_ffn_size: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    shared_expert_ffn_size: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    n_dense_layers: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    shortconv_l_cache: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    ssm_d_state: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)  # Mamba2 state size per head channel
    ssm_d_conv: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)  # Mamba2 conv kernel
    ssm_n_group: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    ssm_n_heads: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)  # Mamba2 heads (GGUF ssm.time_step_rank)
    rope_dims: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)  # rotary dims per head when partial (Phi-2, GPT-NeoX); 0 = head_dim
    #: MLA (DeepSeek-V2): the KV cache holds one compressed latent of kv_lora_rank + rope_dims
    #: values per token and layer (llama.cpp keeps no separate V for MLA); head_dim is the q/k head
    #: (nope + rope), v_head_dim the value head
    kv_lora_rank: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    v_head_dim: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    #: Gemma 3n: per-layer embeddings of this width per layer (a lookup table, never streamed),
    #: AltUp streams and LAuReL rank (llama.cpp hard-codes 256 / 4 / 64), and KV kept only for the
    #: first n_kv_layers layers (the rest reuse it; llama.cpp hard-codes 20); 0 = not used / all layers
    per_layer_input_dims: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    altup_inputs: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    laurel_rank: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    n_kv_layers: int = Field(default=0, ge=0, le=lim.MAX_WIDTH)
    file_tensors: tuple[FileTensor, ...] | None = None
    file_type: str | None = None
    #: the GGUF file type its weights were released in (gpt-oss: MXFP4_MOE): its quality is the
    #: model's own (no quantization loss), it is a candidate though not a common type, and any
    #: other file, a requantization, loses its usual share on top (engine.derived.QualityTable.score)
    native_format: str | None = None
    #: runtimes (catalog ids) that load the model's architecture but compute another function than
    #: the one it was trained as (llama.cpp's bitnet graph applies SiLU where BitNet b1.58 2B4T uses
    #: ReLU²): never offered on them (``runtimes.runs_model``; Reason "miscomputed"); the notes say why
    miscomputed_by: tuple[str, ...] = ()
    verified: bool
    source: str
    notes: str = ""
    quality: tuple[QualityEntry, ...] = ()

    @model_validator(mode="after")
    def _check_layers(self) -> "ModelSpec":
        for name in ("n_heads_per_layer", "n_kv_heads_per_layer", "ffn_size_per_layer"):
            values = getattr(self, name)
            if values is not None and len(values) != self.n_layers:
                raise ValueError(f"{name} has {len(values)} entries, expected n_layers={self.n_layers}")
        if self.n_heads % self.n_kv_heads and self.n_heads_per_layer is None:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.n_experts:
            if not 0 < self.n_experts_used <= self.n_experts:
                raise ValueError(f"n_experts_used must be 1..n_experts={self.n_experts}, got {self.n_experts_used}")
            if not self.expert_ffn_size:
                raise ValueError("a mixture-of-experts model needs expert_ffn_size")
            if self.n_dense_layers >= self.n_layers:
                raise ValueError(f"n_dense_layers {self.n_dense_layers} leaves no MoE layer of {self.n_layers}")
        elif self.n_experts_used or self.expert_ffn_size or self.shared_expert_ffn_size or self.n_dense_layers:
            raise ValueError("n_experts_used/expert_ffn_size/shared_expert_ffn_size/n_dense_layers need n_experts > 0")
        if self.kv_lora_rank and not (self.rope_dims and self.v_head_dim and (self.kv_lora_rank + self.rope_dims) % 2 == 0):
            raise ValueError("MLA needs rope_dims and v_head_dim, and an even kv_lora_rank + rope_dims")
        kv = self.n_kv_heads_per_layer or ()
        if any(k < 0 for k in kv):
            raise ValueError("n_kv_heads_per_layer entries must be >= 0")
        if any(k == 0 for k in kv) and not (self.shortconv_l_cache or self.ssm_d_state):
            raise ValueError("layers with 0 kv heads are recurrent: give shortconv_l_cache (LFM2) or ssm_d_state (Mamba2)")
        if self.ssm_d_state and not (self.ssm_d_conv and self.ssm_n_group and self.ssm_n_heads):
            raise ValueError("a Mamba2 layer needs ssm_d_conv, ssm_n_group and ssm_n_heads beside ssm_d_state")
        if self.ssm_d_state and (self.ssm_d_inner % self.ssm_n_heads or self.ssm_d_inner % self.ssm_n_group):
            # llama.cpp splits the inner width 2 × hidden into ssm_n_heads heads and its norm into ssm_n_group groups
            raise ValueError(f"ssm_n_heads {self.ssm_n_heads} and ssm_n_group {self.ssm_n_group} must divide the Mamba2 "
                             f"inner width 2 × hidden_size = {self.ssm_d_inner}")
        if kv and all(k == 0 for k in kv):
            raise ValueError("every layer has 0 kv heads: at least one attention layer is needed")
        return self

    # Per-layer views: uniform models repeat the scalar.
    def heads(self, layer: int) -> int:
        return self.n_heads_per_layer[layer] if self.n_heads_per_layer else self.n_heads

    def kv_heads(self, layer: int) -> int:
        return self.n_kv_heads_per_layer[layer] if self.n_kv_heads_per_layer else self.n_kv_heads

    def ffn(self, layer: int) -> int:
        return self.ffn_size_per_layer[layer] if self.ffn_size_per_layer else self.ffn_size

    def is_recurrent(self, layer: int) -> bool:
        """No attention in this layer (llama.cpp: ``n_head_kv(il) == 0``), a recurrent/conv layer instead."""
        return self.kv_heads(layer) == 0

    def is_moe_layer(self, layer: int) -> bool:
        return self.n_experts > 0 and layer >= self.n_dense_layers

    @property
    def ssm_d_inner(self) -> int:
        """Mamba2 inner width: 2 × hidden (llama.cpp asserts this expansion for mamba2/granitehybrid)."""
        return 2 * self.hidden_size

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    def is_swa_layer(self, layer: int) -> bool:
        """Sliding-window (local) layer? Gemma 2: even layers local; Gemma 3: 5 local, 1 global.

        llama.cpp ``llama_hparams::set_swa_pattern(n_pattern)``: layer il is SWA when
        ``il % n_pattern < n_pattern - 1``.
        """
        if not self.sliding_window or not self.swa_global_every:
            return False
        n = self.swa_global_every
        return layer % n < n - 1


# --------------------------------------------------------------------------- quantization


class GgmlType(Record):
    name: str
    ggml_type_id: int
    block_size: int = Field(gt=0)
    type_size: int = Field(gt=0)
    layout: str
    source: str

    @property
    def bits_per_weight(self) -> float:
        """Derived, never typed: type_size bytes × 8 / block_size weights (Q8_0: 34×8/32 = 8.5)."""
        return self.type_size * 8 / self.block_size


class FileType(Record):
    id: str
    llama_ftype: int
    base_type: str
    description: str
    imatrix: Literal["no", "recommended", "required"]
    common: bool
    ppl_delta: float | None = None
    ppl_delta_model: str = ""
    ppl_delta_imatrix: bool = False
    kld: float | None = None
    ppl_source: str = ""
    llama3_8b_size_gib: float | None = None
    size_source: str = ""
    notes: str = ""


# --------------------------------------------------------------------------- devices

DeviceClass = Literal["phone", "tablet", "laptop", "desktop", "desktop-gpu", "sbc", "jetson", "mini-pc"]
Backend = Literal["cpu", "metal", "cuda", "vulkan", "opencl", "none"]
#: Operating-system families a runtime runs on or a device runs; "web" = inside a browser page
#: (a target, never a device's own OS). iPadOS counts as "ios".
Platform = Literal["macos", "ios", "android", "linux", "windows", "web"]
PLATFORMS: tuple[str, ...] = ("macos", "ios", "android", "linux", "windows", "web")

_OS_WORDS: tuple[tuple[str, Platform], ...] = (
    ("ipados", "ios"), ("ios", "ios"), ("android", "android"), ("macos", "macos"), ("darwin", "macos"),
    ("os x", "macos"), ("windows", "windows"), ("linux", "linux"), ("ubuntu", "linux"), ("debian", "linux"),
    ("jetpack", "linux"), ("armbian", "linux"), ("raspberry pi os", "linux"), ("fedora", "linux"),
)


@functools.lru_cache(maxsize=1024)  # pure, and asked for each device × runtime a ranking weighs (6,725 times for --ram 4GB)
def os_platforms(os: str, device_class: str, vendor: str) -> tuple[Platform, ...]:
    """OS families named in a profile's free-text ``os`` ("Windows 11 / Linux" → windows, linux;
    "JetPack 6 (Ubuntu 22.04)" → linux; "Darwin 23.1" from ``advisor profile`` → macos), in the
    order they appear. Text that names none ("various") falls back on the vendor and class: Apple →
    macos (ios for phones and tablets), Android phones/tablets otherwise, else windows and linux."""
    text = os.lower()
    found: list[tuple[int, Platform]] = []
    for word, plat in _OS_WORDS:
        at = text.find(word)
        # "ios" inside another word (e.g. "bios") is not iOS
        if at >= 0 and not (word == "ios" and at > 0 and text[at - 1].isalpha()):
            found.append((at, plat))
    ordered: list[Platform] = []
    for _, plat in sorted(found):
        if plat not in ordered:
            ordered.append(plat)
    if ordered:
        return tuple(ordered)
    if vendor.lower().startswith("apple"):
        return ("ios",) if device_class in ("phone", "tablet") else ("macos",)
    if device_class in ("phone", "tablet"):
        return ("android",)
    return ("windows", "linux")


class Price(Record):
    usd: float = Field(gt=0, le=lim.MAX_PRICE_USD)
    basis: Basis
    note: str = ""
    #: What the price buys: the whole device, or only its GPU (a card for a host PC not included),
    #: which is shown with every price and never counted as a complete device.
    covers: Literal["device", "gpu-only"] = "device"

    @property
    def complete(self) -> bool:
        return self.covers == "device"


class Cluster(Record):
    name: str
    cores: int = Field(gt=0, le=lim.MAX_CORES)
    ghz: float = Field(gt=0, le=lim.MAX_GHZ)
    #: FP32 FLOP per cycle of one core (2 × FMA lanes: 16 for 2 × 128-bit, 32 for 4 × 128-bit or
    #: 2 × 256-bit). Optional; when every cluster gives it, a core's share of ``fp32_gflops`` is
    #: cores × GHz × this (an Apple P-core counts 4× an E-core at the same clock), else cores × GHz.
    flops_per_cycle: float | None = Field(default=None, gt=0, le=lim.MAX_FLOPS_PER_CYCLE)

    @property
    def weight(self) -> float:
        """This cluster's relative FP32 rate: cores × GHz × FLOP/cycle (1 when not given)."""
        return self.cores * self.core_weight

    @property
    def core_weight(self) -> float:
        """One core's relative FP32 rate: GHz × FLOP/cycle (1 when not given)."""
        return self.ghz * (self.flops_per_cycle or 1.0)


#: A memory type naming its data rate ("LPDDR4X-4267", "DDR5-5600 SODIMM"): MT/s.
_DATA_RATE = re.compile(r"\b(?:LP)?DDR\w*-(\d{3,5})\b", re.I)
#: Slack before a bandwidth is called more than what bounds it (rounding: 4266 vs 4267 MT/s).
BANDWIDTH_SLACK = 1.05


class MemorySpec(Record):
    ram: DeviceMemorySize
    type: str
    bus_width_bits: int | None = Field(default=None, gt=0, le=1 << 16)
    bandwidth_gbs: float = Field(ge=lim.MIN_BANDWIDTH_GBS, le=lim.MAX_BANDWIDTH_GBS)
    bandwidth_basis: Basis
    bandwidth_note: str = ""
    usable: ByteSize
    usable_basis: Basis
    usable_note: str = ""
    unified: bool
    llc: ByteSize | None = None
    llc_bandwidth_gbs: float | None = Field(default=None, ge=lim.MIN_BANDWIDTH_GBS, le=lim.MAX_BANDWIDTH_GBS)
    #: read bandwidth one thread reaches (``advisor profile`` measures it): n CPU threads read at
    #: most n × this, so few threads are bound by it before the memory's bandwidth
    thread_bandwidth_gbs: float | None = Field(default=None, ge=lim.MIN_BANDWIDTH_GBS, le=lim.MAX_BANDWIDTH_GBS)

    @model_validator(mode="after")
    def _bandwidth_within_the_bus(self) -> "MemorySpec":
        """A bandwidth above what the named memory moves over the named bus (a slipped decimal:
        171 for 17.1 GB/s) would make every speed that much too fast."""
        rate = _DATA_RATE.search(self.type)
        if rate and self.bus_width_bits:
            bus_gbs = bus_bandwidth_gbs(int(rate.group(1)), self.bus_width_bits)
            if self.bandwidth_gbs > bus_gbs * BANDWIDTH_SLACK:
                raise ValueError(
                    f"bandwidth_gbs {self.bandwidth_gbs:g} is more than {rate.group(0)} over a {self.bus_width_bits}-bit bus "
                    f"moves ({bus_gbs:.1f} GB/s); fix bandwidth_gbs, or type or bus_width_bits"
                )
        return self

    @model_validator(mode="after")
    def _one_thread_within_the_memory(self) -> "MemorySpec":
        if self.thread_bandwidth_gbs is not None and self.thread_bandwidth_gbs > self.bandwidth_gbs * BANDWIDTH_SLACK:
            raise ValueError(f"thread_bandwidth_gbs {self.thread_bandwidth_gbs:g} (one thread) is more than bandwidth_gbs "
                             f"{self.bandwidth_gbs:g} (the whole memory); fix one of them")
        return self

    @model_validator(mode="after")
    def _usable_le_ram(self) -> "MemorySpec":
        if self.usable > self.ram:
            raise ValueError("usable memory is larger than ram")
        if self.usable < MIB:  # usable = "1": a forgotten unit
            raise ValueError(f"usable memory of {self.usable} bytes is less than 1 MiB; give it with a unit, like 3GB")
        return self


def unprintable(ch: str) -> bool:
    """A control (C0, DEL, C1), format (a right-to-left override, a zero-width joiner), line or
    paragraph separator, private-use or unassigned character: printed, it moves the terminal's
    cursor, reorders the line or shows nothing."""
    return unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")


#: CPU architectures a profile may name; each has a CPU execution path (engine.speed.cpu_path).
CpuArch = Literal["arm64", "x86_64", "riscv64"]


#: ISA flags that belong to one architecture (the engine reads avx2, avx512*, avx_vnni, dotprod and
#: neon): a profile naming one under another arch would take that arch's kernels' rates. Flags
#: not listed (fp16, bf16, …) are free-form.
_ISA_ARCH = (
    (re.compile(r"^(?:avx|sse|amx)|^(?:fma|f16c)$"), "x86_64"),
    (re.compile(r"^(?:neon|dotprod|i8mm|sve2?|sme2?)$"), "arm64"),
    (re.compile(r"^rv"), "riscv64"),
)


#: fp32_gflops against Σ cores × GHz × flops_per_cycle of the clusters: rounding, not a typo.
CLUSTER_GFLOPS_SLACK = 0.10


class CpuSpec(Record):
    name: str
    arch: CpuArch
    isa: tuple[str, ...] = ()
    cores: int = Field(gt=0, le=lim.MAX_CORES)
    threads: int = Field(gt=0, le=lim.MAX_CORES * 8)
    clusters: tuple[Cluster, ...] = Field(min_length=1, max_length=64)
    fp32_gflops: float = Field(ge=lim.MIN_GFLOPS, le=lim.MAX_GFLOPS)
    fp32_gflops_basis: Basis
    fp32_gflops_note: str = ""

    @model_validator(mode="after")
    def _isa_of_its_arch(self) -> "CpuSpec":
        for flag in self.isa:
            arch = next((a for pattern, a in _ISA_ARCH if pattern.search(flag.lower())), self.arch)
            if arch != self.arch:
                raise ValueError(f"isa lists '{flag}', an extension of {arch} CPUs, but arch is {self.arch}; remove it or correct arch")
        return self

    @model_validator(mode="after")
    def _flops_per_cycle_all_or_none(self) -> "CpuSpec":
        given = [c.flops_per_cycle is not None for c in self.clusters]
        if any(given) and not all(given):
            missing = ", ".join(c.name for c in self.clusters if c.flops_per_cycle is None)
            raise ValueError(f"flops_per_cycle is given for some clusters but not for {missing}; give it for every cluster or for none")
        return self

    @model_validator(mode="after")
    def _counts_and_rate_agree_with_clusters(self) -> "CpuSpec":
        """cores is the clusters' sum, and fp32_gflops what their cores × GHz × FLOP/cycle give
        (±CLUSTER_GFLOPS_SLACK) when every cluster states its FLOP/cycle: the engine splits the
        rate over the clusters by those products, so a rate that disagrees is a typo in one."""
        in_clusters = sum(c.cores for c in self.clusters)
        if in_clusters != self.cores:
            raise ValueError(f"cores = {self.cores}, but the clusters have {in_clusters}; make them agree")
        if all(c.flops_per_cycle is not None for c in self.clusters):
            product = sum(c.cores * c.ghz * (c.flops_per_cycle or 0.0) for c in self.clusters)
            if abs(self.fp32_gflops / product - 1) > CLUSTER_GFLOPS_SLACK:
                raise ValueError(f"fp32_gflops = {self.fp32_gflops:g}, but the clusters' cores × GHz × flops_per_cycle give "
                                 f"{product:.1f}; fix fp32_gflops or the clusters")
        return self

    @property
    def big_cores(self) -> int:
        """Cores of the fastest cluster(s): the threads that help decode on big.LITTLE."""
        fastest = max(c.ghz for c in self.clusters)
        return sum(c.cores for c in self.clusters if c.ghz >= 0.75 * fastest)


def _legacy_llama_cpp_flag(data: object) -> object:
    """Profiles written before runtimes were a dimension say ``usable_by_llama_cpp = true|false``;
    read it as ``runtimes = ["llama.cpp"]`` or ``[]`` so older user profiles keep loading."""
    if isinstance(data, dict) and "usable_by_llama_cpp" in data:
        if "runtimes" in data:
            raise ValueError("give either runtimes or the older usable_by_llama_cpp, not both; keep runtimes")
        data = dict(data)
        flag = data.pop("usable_by_llama_cpp")
        if not isinstance(flag, bool):
            raise ValueError("usable_by_llama_cpp must be true or false (better: runtimes = [\"llama.cpp\"])")
        data["runtimes"] = ["llama.cpp"] if flag else []
        data.setdefault("runtimes_note", "from the older usable_by_llama_cpp flag")
    return data


class GpuSpec(Record):
    name: str
    backend: Backend
    fp16_tflops: float = Field(ge=lim.MIN_TFLOPS, le=lim.MAX_TFLOPS)
    fp16_tflops_basis: Basis
    fp16_tflops_note: str = ""
    discrete: bool
    vram: DeviceMemorySize | None = None
    vram_usable: ByteSize | None = None
    vram_bandwidth_gbs: float | None = Field(default=None, ge=lim.MIN_BANDWIDTH_GBS, le=lim.MAX_BANDWIDTH_GBS)
    vram_bandwidth_basis: Basis | None = None
    vram_bandwidth_note: str = ""
    #: ids of the runtimes (catalog/runtimes.toml) that can run a model on this GPU from a native
    #: app or process; a browser's WebGPU access is decided by the browser target instead.
    runtimes: tuple[str, ...]
    runtimes_note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_flag(cls, data: object) -> object:
        return _legacy_llama_cpp_flag(data)

    @property
    def usable_by_llama_cpp(self) -> bool:
        return "llama.cpp" in self.runtimes

    @model_validator(mode="after")
    def _discrete_has_vram(self) -> "GpuSpec":
        if self.discrete and not (self.vram and self.vram_usable and self.vram_bandwidth_gbs):
            raise ValueError("a discrete GPU needs vram, vram_usable and vram_bandwidth_gbs")
        if self.vram and self.vram_usable and self.vram_usable > self.vram:
            raise ValueError("vram_usable is larger than vram")
        return self


class NpuSpec(Record):
    name: str
    tops: float | None = Field(default=None, ge=0, le=MAX_NUMBER)
    note: str = ""
    #: ids of the runtimes that can run a model on this NPU (ExecuTorch QNN/Core ML, LiteRT-LM NPU).
    runtimes: tuple[str, ...] = ()
    runtimes_note: str = ""


class StorageSpec(Record):
    """Where the model file is read from at a cold start: the storage's kind ("UFS 4.0", "NVMe
    PCIe 4.0", "microSD UHS-I", "eMMC 5.1") and its sequential read in decimal MB/s (10^6 B/s),
    as vendors publish it. Used for the cold-start load time (engine.load)."""

    kind: str = Field(min_length=1, max_length=200)
    read_mb_s: float
    basis: Basis
    source: str = ""
    note: str = ""

    @field_validator("read_mb_s")
    @classmethod
    def _sane_read_speed(cls, value: float) -> float:
        if not lim.MIN_STORAGE_READ_MB_S <= value <= lim.MAX_STORAGE_READ_MB_S:
            raise ValueError(
                f"a sequential read of {value:g} MB/s is outside {lim.MIN_STORAGE_READ_MB_S:g}–"
                f"{lim.MAX_STORAGE_READ_MB_S:,.0f} MB/s; give it in decimal MB/s (a 7 GB/s NVMe drive is 7000)")
        return value


class PowerMode(Record):
    """One of a device's vendor power modes (Jetson ``nvpmodel``): the caps it sets. The engine
    runs a mode as the profile with its clocks, cores and memory clock scaled to these caps
    (``engine.power_modes.with_power_mode``); the first mode of a profile is the one its own figures
    describe."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.+-]+$")
    max_w: float = Field(ge=lim.MIN_WATTS, le=lim.MAX_WATTS)  # the mode's power budget
    cpu_cores: int = Field(gt=0, le=lim.MAX_CORES)  # CPU cores online
    cpu_ghz: float = Field(gt=0, le=lim.MAX_GHZ)  # CPU maximum clock
    gpu_ghz: float | None = Field(default=None, gt=0, le=lim.MAX_GHZ)  # GPU maximum clock
    gpu_units: int | None = Field(default=None, gt=0, le=4096)  # GPU units enabled (Orin: TPCs)
    memory_bandwidth_gbs: float = Field(ge=lim.MIN_BANDWIDTH_GBS, le=lim.MAX_BANDWIDTH_GBS)  # at the mode's memory clock
    note: str = ""


class Sustained(Record):
    """Decode speed after minutes of continuous generation (thermal throttling), as a share of the
    first, cool runs' speed: a published measurement of this device, never a guess."""

    decode_fraction: float = Field(gt=0, le=1)
    after: str = Field(min_length=1, max_length=200)  # how long the load ran before the figure held
    basis: Basis
    source: str = Field(min_length=1)
    note: str = ""


class PowerSpec(Record):
    typical_w: float | None = Field(default=None, ge=lim.MIN_WATTS, le=lim.MAX_WATTS)
    max_w: float = Field(ge=lim.MIN_WATTS, le=lim.MAX_WATTS)
    basis: Basis
    note: str = ""
    #: vendor power modes, the one the profile's figures describe first (empty: none published)
    modes: tuple[PowerMode, ...] = Field(default=(), max_length=32)
    modes_source: str = ""
    modes_verification: str = ""
    #: the mode a derived profile runs in (set by ``with_power_mode``; None: the profile's own figures)
    active_mode: str | None = None
    sustained: Sustained | None = None

    @model_validator(mode="after")
    def _modes_consistent(self) -> "PowerSpec":
        names = [m.name.lower() for m in self.modes]
        if len(set(names)) != len(names):
            raise ValueError("power mode names must be unique")
        if self.modes and not self.modes_source:
            raise ValueError("power modes need modes_source (where the mode table comes from)")
        if self.active_mode is not None and self.active_mode.lower() not in names:
            raise ValueError(f"active_mode '{self.active_mode}' is not one of the modes")
        return self

    @model_validator(mode="after")
    def _typical_within_max(self) -> "PowerSpec":
        # both figures are the whole device's draw: a board's or a package's maximum beside a whole
        # PC's typical draw (the desktop-GPU profiles once were) reads as drawing more than its maximum
        if self.typical_w is not None and self.typical_w > self.max_w:
            raise ValueError(f"typical_w {self.typical_w:g} W is more than max_w {self.max_w:g} W; give both as the whole "
                             "device's draw (the maximum the larger)")
        return self


class DeviceProfile(Record):
    id: str
    name: str
    class_: DeviceClass = Field(alias="class")
    vendor: str
    soc: str
    release: str
    os: str
    source: str
    verification: str = ""
    notes: str = ""
    measured_at: str | None = None  # set by `advisor profile` for a measured profile
    #: set by `advisor profile`: the machine it was measured on (hardware.MachineInfo.fingerprint);
    #: runs recorded under `local` on another machine are told apart by it
    fingerprint: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    #: set by `advisor profile`: the cores other processes used on average while it measured (the
    #: quietest of its rounds); above engine.calibrate.is_busy's allowance the figures may read low
    busy_cores: float | None = Field(default=None, ge=0, le=lim.MAX_CORES)
    #: A RAM-only (generic) device: ids of the catalog devices it stands for, slowest first; its
    #: speed figures are the first one's (engine.evaluate.generic_device). Empty for real devices.
    stands_for: tuple[str, ...] = ()
    price: Price | None = None
    memory: MemorySpec
    cpu: CpuSpec
    gpu: GpuSpec | None = None
    npu: NpuSpec | None = None
    power: PowerSpec
    #: the storage the model file is loaded from (optional: older user profiles have none, and a
    #: cold-start load time is then not predicted)
    storage: StorageSpec | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False, defer_build=True)

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty; give the device a name (it heads every table and report)")
        if any(unprintable(ch) for ch in v):  # a newline split the table titles in two
            raise ValueError("holds a control or format character (a line break, a tab, a terminal escape or a "
                             "right-to-left override); give the name on one line, in plain text")
        return v

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        """An id is typed after --device and stored with every run: one word, no path."""
        if not v.strip():
            raise ValueError("is empty; give the device an id like my-board-8gb (--device takes it)")
        if any(ch.isspace() or unprintable(ch) or ch in "/\\" for ch in v):
            raise ValueError(f"{v!r} holds a space, a control character or a slash; use letters, digits and '-', like my-board-8gb")
        return v

    @property
    def device_class(self) -> str:
        return self.class_

    @property
    def gpu_usable(self) -> bool:
        """llama.cpp can use the GPU (the engine's GPU paths are llama.cpp's)."""
        return bool(self.gpu and self.gpu.usable_by_llama_cpp and self.gpu.backend not in ("none", "cpu"))

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """Operating-system families this device runs (for matching runtimes and targets)."""
        return os_platforms(self.os, self.class_, self.vendor)

    @property
    def platform(self) -> Platform:
        """The first (main) of ``platforms``."""
        return self.platforms[0]

    @model_validator(mode="after")
    def _top_mode_is_the_profile(self) -> "DeviceProfile":
        modes = self.power.modes
        if modes and self.power.active_mode is None:
            top = modes[0]
            if top.cpu_cores != self.cpu.cores or abs(top.memory_bandwidth_gbs - self.memory.bandwidth_gbs) > 1e-6 * self.memory.bandwidth_gbs:
                raise ValueError(f"the first power mode ({top.name}) must be the one the profile's figures describe: "
                                 f"{self.cpu.cores} CPU cores and {self.memory.bandwidth_gbs:g} GB/s")
            if (top.gpu_ghz is None) != (self.gpu is None):
                raise ValueError(f"the first power mode ({top.name}) gives a GPU clock exactly when the profile has a GPU")
            fastest = max(c.ghz for c in self.cpu.clusters)
            for m in modes[1:]:
                over = [f"{name} {value:g} > {limit:g}" for name, value, limit in (
                    ("cpu_cores", m.cpu_cores, top.cpu_cores), ("cpu_ghz", m.cpu_ghz, max(fastest, top.cpu_ghz)),
                    ("gpu_ghz", m.gpu_ghz, top.gpu_ghz), ("gpu_units", m.gpu_units, top.gpu_units),
                    ("memory_bandwidth_gbs", m.memory_bandwidth_gbs, top.memory_bandwidth_gbs))
                    if value is not None and limit is not None and value > limit * (1 + 1e-9)]
                if over:
                    raise ValueError(f"power mode {m.name} exceeds the first mode ({top.name}), which the profile's figures "
                                     f"describe: {', '.join(over)}; list the fastest mode first")
                if (m.gpu_ghz is None) != (top.gpu_ghz is None) or (m.gpu_units is None) != (top.gpu_units is None):
                    raise ValueError(f"power mode {m.name} must give gpu_ghz and gpu_units exactly as the first mode does")
        return self

    def accelerator_runtimes(self) -> frozenset[str]:
        """Runtime ids that can use this device's GPU or NPU."""
        out: set[str] = set()
        if self.gpu:
            out.update(self.gpu.runtimes)
        if self.npu:
            out.update(self.npu.runtimes)
        return frozenset(out)


# --------------------------------------------------------------------------- runtimes

#: dtypes of activations and KV caches; "activation" (KV only) = the format's activation dtype.
Dtype = Literal["f32", "f16", "bf16", "int8", "int16"]


class ByteFigure(Record):
    """A size in bytes with its basis and source (runtime overheads, library downloads)."""

    bytes: ByteSize
    basis: Basis
    source: str
    note: str = ""


class TensorQuant(Record):
    """How one class of weight tensors is stored.

    ``bits`` per value, packed ``values_per_word`` to a ``word_bits`` word where the runtime packs
    that way (MLC int3: 10 values per uint32, 2 bits unused); one scale of ``scale_bits`` (and one
    zero point/bias of ``zero_bits``; 0 = symmetric) per ``group`` consecutive values along the
    input dimension. ``group = 0``: one scale per output row (per channel); ``"tensor"``: one per
    tensor. ``scale_bits = 0``: not quantized (stored as plain ``bits``-bit floats).
    """

    bits: int = Field(gt=0, le=32)
    group: int | Literal["tensor"] = 0
    scale_bits: int = Field(default=0, ge=0, le=32)
    zero_bits: int = Field(default=0, ge=0, le=32)
    values_per_word: int | None = Field(default=None, gt=0)
    word_bits: int = Field(default=32, gt=0, le=64)

    @model_validator(mode="after")
    def _check(self) -> TensorQuant:
        if isinstance(self.group, int) and self.group < 0:
            raise ValueError("group must be >= 0 (0 = per output row) or \"tensor\"")
        if self.group != 0 and not self.scale_bits:
            raise ValueError("a grouped or per-tensor format needs scale_bits")
        if self.zero_bits and not self.scale_bits:
            raise ValueError("zero_bits without scale_bits")
        if self.values_per_word and self.values_per_word * self.bits > self.word_bits:
            raise ValueError(f"{self.values_per_word} values of {self.bits} bits do not fit a {self.word_bits}-bit word")
        return self

    @property
    def storage_bits(self) -> float:
        """Bits one value occupies: word_bits / values_per_word when packed (MLC int3: 32/10 = 3.2), else bits."""
        return self.word_bits / self.values_per_word if self.values_per_word else float(self.bits)

    @property
    def bits_per_weight(self) -> float:
        """storage_bits + (scale_bits + zero_bits) / group for group-wise formats (q4f16_1: 4 + 16/32 =
        4.5). Per-row and per-tensor scales depend on the row length: this property leaves them out
        (use ``tensor_bytes`` for exact sizes). Storage, not precision: the quality estimate reads
        ``engine.quality.quality_bits_per_weight`` (q4f32_1: 5.0 here, 4.5 there)."""
        if isinstance(self.group, int) and self.group > 0:
            return self.storage_bits + (self.scale_bits + self.zero_bits) / self.group
        return self.storage_bits

    def _data_bits(self, rows: int, cols: int) -> int:
        """rows × cols × bits (packed: rows × ⌈cols / values_per_word⌉ words)."""
        if self.values_per_word:
            return rows * math.ceil(cols / self.values_per_word) * self.word_bits
        return rows * cols * self.bits

    def data_bytes(self, rows: int, cols: int) -> int:
        """Bytes of the values alone (``tensor_bytes`` without the scales and zero points): the
        largest array a runtime that keeps scales in their own array (MLC: q_weight, q_scale) binds."""
        return math.ceil(self._data_bits(rows, cols) / 8)

    def groups(self, rows: int, cols: int) -> int:
        """Quantization blocks of a rows × cols matrix: rows × ⌈cols / group⌉ (group 0: rows;
        "tensor": 1; none when not quantized)."""
        if not self.scale_bits:
            return 0
        if self.group == "tensor":
            return 1
        if self.group == 0:
            return rows
        return rows * math.ceil(cols / self.group)

    def tensor_bytes(self, rows: int, cols: int) -> int:
        """Bytes of a rows × cols weight matrix (cols = input dimension, along which groups run):
        data = rows × cols × bits (packed: rows × ⌈cols / values_per_word⌉ words), plus one
        (scale_bits + zero_bits) per group (``groups``); rounded up to whole bytes."""
        return math.ceil((self._data_bits(rows, cols) + self.groups(rows, cols) * (self.scale_bits + self.zero_bits)) / 8)


class LoadCopy(Record):
    """What a runtime holds beside its file's weights once it has packed them at load, and for a
    moment while it packs (ONNX Runtime's prepacked MatMul/MatMulNBits weights): measured as
    resident memory after loading twins its own converter built (benchmarks/results/runtime_cpu_speed.md)."""

    #: bytes the packed copy of a quantized matrix adds per quantization block (ONNX Runtime: 4, one
    #: float a block, measured; by our reading MLAS's block sums for int8 compute); the packed copy replaces the stored one
    block_extra_bytes: int = Field(default=0, ge=0, le=64)
    #: a tied model's one shared matrix, read by the embedding lookup and by the output MatMul, is
    #: held twice: the lookup's stored copy stays beside the MatMul's packed one
    tied_copy: bool = False
    #: while packing, the largest matrix's values exist twice for a moment: the load peaks at the
    #: loaded weights + that array (before the KV cache and the run's buffers exist)
    transient: bool = False
    source: str
    verified: bool


class RuntimeFormat(Record):
    """A runtime's own weight format (q4f16_1, 4bit, 8da4w, int4 …): how each class of tensor is stored."""

    id: str
    aliases: tuple[str, ...] = ()
    description: str
    #: backend ids of the runtime this format runs on; empty = every backend
    backends: tuple[str, ...] = ()
    linear: TensorQuant
    #: token embedding: its own storage, or "linear" (as the linear layers)
    embedding: TensorQuant | Literal["linear"] = "linear"
    #: untied output projection (lm_head): its own storage, "linear" or "embedding"
    output: TensorQuant | Literal["linear", "embedding"] = "linear"
    #: a tied model's shared matrix is stored once as the embedding, once as the output, or twice ("both")
    tied: Literal["embedding", "output", "both"] = "embedding"
    #: norms, biases and other 1-D tensors
    other: TensorQuant
    #: a matrix whose input dimension is not a multiple of the group: padded, left unquantized (MLX),
    #: or quantized in a group halved until it divides the dimension (MNN's llmexport)
    indivisible: Literal["pad", "unquantized", "halve"] = "pad"
    #: rotary position tables stored in the file: cos and sin of max_position_embeddings ×
    #: head_dim/2 values each, at this many bits (0: computed at run time)
    rotary_cache_bits: int = Field(default=0, ge=0, le=32)
    activation_dtype: Dtype
    #: its linear layers quantize their input to int8 per token at run time and multiply it with the
    #: quantized weights in integer GEMMs (ExecuTorch 8da4w/8da8w, LiteRT dynamic_int*, ONNX Runtime
    #: MatMulNBits at accuracy level 4); int4 weights then prefill on a native CPU at the int4 × int8
    #: GEMM rate (engine.speed.int4_gemm_speedup), not the float rate
    int8_activations: bool = False
    #: what the runtime holds beside the file's weights after packing them at load (None: nothing measured)
    load_copy: LoadCopy | None = None
    #: WebGPU features a browser must offer to run it ("shader-f16"); native backends ignore it
    requires_webgpu: tuple[str, ...] = ()
    source: str
    verified: bool
    notes: str = ""

    @property
    def embedding_quant(self) -> TensorQuant:
        return self.linear if self.embedding == "linear" else self.embedding

    @property
    def output_quant(self) -> TensorQuant:
        if self.output == "linear":
            return self.linear
        if self.output == "embedding":
            return self.embedding_quant
        return self.output

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


class RuntimeBackend(Record):
    """One execution backend of a runtime (Metal, CUDA, OpenCL, XNNPACK, QNN, WebGPU, WASM …)."""

    id: str
    kind: Literal["cpu", "gpu", "npu"]
    #: the APIs/delegates it drives: metal, cuda, vulkan, opencl, webgpu, wasm, xnnpack, qnn, coreml, directml
    apis: tuple[str, ...]
    platforms: tuple[Platform, ...]
    #: largest KV capacity this backend allows (MLC caps Metal at 32,768 tokens)
    max_context: int | None = Field(default=None, gt=0)
    #: this backend's KV cache dtype where it is not the runtime's (``KvPolicy.dtype``)
    kv_dtype: Literal["f32", "f16", "bf16", "int8", "int16"] | None = None
    kv_dtype_source: str = ""
    #: host CPU architectures a native build of this backend exists for; the default is the two
    #: every runtime here ships for, so a RISC-V device gets a backend only where the data says so
    cpu_arches: tuple[CpuArch, ...] = ("arm64", "x86_64")
    cpu_arches_source: str = ""
    source: str
    verified: bool = True
    note: str = ""


class KvSpec(Record):
    """KV cache: dtype ("activation" = the format's activation dtype) and when it is allocated:
    ``grows`` with the tokens, ``preallocated`` for the whole context at load, or
    ``fixed-at-export`` (the capacity is baked into the exported file)."""

    dtype: Literal["f32", "f16", "bf16", "int8", "int16", "activation"]
    allocation: Literal["grows", "preallocated", "fixed-at-export"]
    #: sliding-window layers hold only the window (False: every layer holds the whole context)
    windowed: bool = True
    windowed_source: str = ""
    source: str
    verified: bool = True
    note: str = ""


class Runtime(Record):
    """An inference runtime: where it runs, its backends, its weight formats, its KV cache."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    #: the source snapshot the data was read from (commit, release)
    version: str
    source: str
    notes: str = ""
    platforms: tuple[Platform, ...]
    backends: tuple[RuntimeBackend, ...] = Field(alias="backend")
    kv: KvSpec
    #: process + library memory beside weights, KV cache and buffers
    overhead: ByteFigure
    #: what an app or page downloads for the runtime itself (None: not published)
    runtime_download: ByteFigure | None = None
    default_context: int | None = Field(default=None, gt=0)
    default_context_source: str = ""
    prefill_chunk: int | None = Field(default=None, gt=0)
    prefill_chunk_source: str = ""
    #: share of the detected GPU memory the runtime lets itself use (MLC gpu_memory_utilization)
    gpu_memory_fraction: float | None = Field(default=None, gt=0, le=1)
    gpu_memory_fraction_source: str = ""
    #: the largest WebAssembly heap the runtime's build grows to (its emscripten maximum), whatever
    #: the browser allows (None: the browser's cap)
    wasm_heap_max: ByteSize | None = None
    wasm_heap_max_source: str = ""
    #: "gguf": the weight formats are the GGUF file types of catalog/quantizations.toml
    formats_from: Literal["gguf"] | None = None
    formats: tuple[RuntimeFormat, ...] = Field(default=(), alias="format")
    #: the architectures (gguf_arch names) the runtime's converter or loader has code for;
    #: None = not known, every architecture assumed
    architectures: tuple[str, ...] | None = None
    architectures_source: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    @field_validator("architectures")
    @classmethod
    def _known_archs(cls, archs: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if archs is None:
            return None
        if not archs:
            raise ValueError("an empty list runs no model; leave architectures out when the runtime's list is not known")
        for a in archs:
            if a not in GGUF_ARCHS:
                import difflib

                close = difflib.get_close_matches(a, GGUF_ARCHS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(GGUF_ARCHS)}"
                raise ValueError(f"unknown architecture '{a}'; {hint}")
        twice = sorted({a for a in archs if archs.count(a) > 1})
        if twice:
            raise ValueError(f"architecture {', '.join(twice)} is listed twice; remove one")
        return archs

    @model_validator(mode="after")
    def _check(self) -> Runtime:
        if bool(self.formats) == bool(self.formats_from):
            raise ValueError("give either [[runtime.format]] tables or formats_from = \"gguf\", exactly one")
        if self.architectures is not None and not self.architectures_source.strip():
            raise ValueError("architectures needs architectures_source: the package, version and file it was read from")
        if self.wasm_heap_max is not None and not self.wasm_heap_max_source.strip():
            raise ValueError("wasm_heap_max needs wasm_heap_max_source: the package, version and file it was read from")
        ids = [b.id for b in self.backends]
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f"backend ids must be present and unique, got {ids}")
        for b in self.backends:
            extra = set(b.platforms) - set(self.platforms)
            if extra:
                raise ValueError(f"backend {b.id} names platforms {sorted(extra)} missing from the runtime's platforms")
        names: dict[str, str] = {}
        for f in self.formats:
            for n in f.names:
                key = n.lower()
                if key in names:
                    raise ValueError(f"format name '{n}' is used twice (formats {names[key]} and {f.id})")
                names[key] = f.id
            unknown = set(f.backends) - set(ids)
            if unknown:
                raise ValueError(f"format {f.id} names unknown backends {sorted(unknown)}; known: {ids}")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def runs_arch(self, gguf_arch: str) -> bool:
        """Whether the runtime can load a model of this architecture (a ``gguf_arch`` name):
        listed in ``architectures``, or any architecture when the list is not known (None)."""
        return self.architectures is None or gguf_arch in self.architectures

    def backend(self, backend_id: str) -> RuntimeBackend | None:
        return next((b for b in self.backends if b.id == backend_id), None)

    def backends_for(self, platform: str, kind: str | None = None) -> tuple[RuntimeBackend, ...]:
        """Backends that run on ``platform`` (optionally of one kind), in catalog order."""
        return tuple(b for b in self.backends if platform in b.platforms and (kind is None or b.kind == kind))

    def find_format(self, name: str) -> RuntimeFormat | None:
        """The format with this id or alias (case-insensitive), or None."""
        key = name.strip().lower()
        return next((f for f in self.formats if key in (n.lower() for n in f.names)), None)

    def formats_for(self, backend_id: str) -> tuple[RuntimeFormat, ...]:
        return tuple(f for f in self.formats if not f.backends or backend_id in f.backends)

    def usable_backends(self, device: DeviceProfile, browser: BrowserPlatform | None = None) -> tuple[RuntimeBackend, ...]:
        """Backends of this runtime that can run on ``device``: in a native process (built for its
        CPU architecture, ``cpu_arches``), CPU backends on the device's OS families, GPU/NPU backends when the profile lists this runtime for its
        GPU/NPU (a GPU backend driving the profile's own GPU API first: CUDA before Vulkan on an
        RTX card). In a ``browser`` page: its ``web`` backends, a WebGPU one only where that
        browser offers WebGPU for this device's OS and GPU."""
        if browser is not None:
            return tuple(b for b in self.backends if "web" in b.platforms and (b.kind == "cpu" or (
                b.kind == "gpu" and browser.webgpu_for(device))))
        platforms = device.platforms
        out: list[RuntimeBackend] = []
        for b in self.backends:
            if not any(p in b.platforms for p in platforms) or device.cpu.arch not in b.cpu_arches:
                continue
            if b.kind == "cpu" or (b.kind == "gpu" and device.gpu and self.id in device.gpu.runtimes) or (
                    b.kind == "npu" and device.npu and self.id in device.npu.runtimes):
                out.append(b)
        native_api = device.gpu.backend if device.gpu else None
        return tuple(sorted(out, key=lambda b: b.kind == "gpu" and native_api not in b.apis))


# --------------------------------------------------------------------------- deployment targets


class PublishedBudget(Record):
    """A published app-memory figure: for the listed profiles, or for every device with this RAM
    (of these classes)."""

    device: str  # the device the figure was published for, e.g. "iPhone 13 Pro (6 GB)"
    profiles: tuple[str, ...] = ()
    ram: ByteSize | None = None
    device_classes: tuple[DeviceClass, ...] = ()
    usable: ByteSize
    usable_with_entitlement: ByteSize | None = None
    basis: Basis
    source: str
    verified: bool
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> PublishedBudget:
        if not self.profiles and self.ram is None:
            raise ValueError("a published budget needs profiles or ram to say which devices it applies to")
        return self

    def applies_to(self, device: DeviceProfile) -> bool:
        if device.id in self.profiles:
            return True
        return (self.ram is not None and device.memory.ram == self.ram
                and (not self.device_classes or device.device_class in self.device_classes))


class MemoryRule(Record):
    """How much memory one model process gets under a target.

    ``profile``: the profile's ``memory.usable`` (today's behaviour). ``fraction``: a published
    figure for the device (``published``, by profile id first, then by RAM), else ``fraction`` ×
    RAM (``fraction_with_entitlement`` when the app holds ``entitlement``).
    """

    rule: Literal["profile", "fraction"]
    fraction: float | None = Field(default=None, gt=0, le=1)
    fraction_with_entitlement: float | None = Field(default=None, gt=0, le=1)
    basis: Basis
    source: str
    note: str = ""
    entitlement: str = ""
    entitlement_source: str = ""
    published: tuple[PublishedBudget, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> MemoryRule:
        if self.rule == "fraction" and self.fraction is None:
            raise ValueError("rule = \"fraction\" needs fraction")
        if self.fraction_with_entitlement is not None and not self.entitlement:
            raise ValueError("fraction_with_entitlement needs the entitlement's name")
        return self


class DownloadLimit(Record):
    """A store or packaging size limit. ``hard``: the store refuses a larger package; ``soft``: a
    threshold with a consequence (no automatic download over cellular)."""

    id: str
    what: str
    max_bytes: ByteSize
    compressed: bool
    kind: Literal["hard", "soft"]
    source: str
    verified: bool
    note: str = ""
    #: the runtimes whose packaging it concerns (ids of runtimes.toml); empty: every runtime
    runtimes: tuple[str, ...] = ()

    def applies_to(self, runtime_id: str) -> bool:
        return not self.runtimes or runtime_id in self.runtimes


def gpu_named(device: DeviceProfile, words: tuple[str, ...]) -> bool:
    """The device's GPU name contains one of ``words`` (case-insensitive); no words: any device."""
    if not words:
        return True
    gpu = device.gpu.name.lower() if device.gpu is not None else ""
    return any(w.lower() in gpu for w in words)


class AllocationLimit(Record):
    """Largest single buffer/allocation through one API (WebGPU binding, OpenCL max alloc)."""

    id: str
    api: str
    what: str
    max_bytes: ByteSize
    source: str
    verified: bool
    note: str = ""
    #: words one of which the device's GPU name must contain (a driver's limit reported for one GPU,
    #: e.g. "adreno 740"); empty = every GPU reached through ``api``
    gpu_names: tuple[str, ...] = ()

    def applies_to(self, device: DeviceProfile) -> bool:
        """Does the limit hold on ``device``'s GPU (its name names one of ``gpu_names``)?"""
        return gpu_named(device, self.gpu_names)


class BrowserPlatform(Record):
    """One browser on one OS family: its WebGPU adapter limits, WebAssembly memory and tab limit."""

    id: str
    name: str
    host_platforms: tuple[Platform, ...]
    webgpu: bool
    webgpu_since: str
    #: host platforms where this browser has WebGPU (empty = all of host_platforms)
    webgpu_platforms: tuple[Platform, ...] = ()
    #: words one of which the device's GPU name must contain for WebGPU (empty = any GPU)
    webgpu_gpu_names: tuple[str, ...] = ()
    webgpu_note: str = ""
    webgpu_source: str
    #: what a page that requests higher limits (WebLLM asks for 1 GiB) typically gets
    max_buffer_size: ByteSize
    max_storage_buffer_binding_size: ByteSize
    limits_basis: Basis
    limits_source: str
    limits_note: str = ""
    shader_f16: Literal["yes", "some", "no", "unknown"]
    shader_f16_source: str
    wasm32_max: ByteSize
    wasm32_source: str
    memory64: bool
    memory64_since: str = ""
    memory64_max: ByteSize | None = None
    memory64_source: str
    def webgpu_for(self, device: DeviceProfile) -> bool:
        """WebGPU in this browser on this device: shipped for one of its OS families and its GPU."""
        if not self.webgpu or device.gpu is None:
            return False
        hosts = self.webgpu_platforms or self.host_platforms
        return any(p in hosts for p in device.platforms) and gpu_named(device, self.webgpu_gpu_names)

    #: the page's process limit (None: none published; the device budget applies)
    tab_memory_limit: ByteSize | None = None
    tab_memory_basis: Basis = "estimated"
    tab_memory_source: str = ""
    storage_note: str = ""
    #: most a page keeps in the browser's cache storage between visits, as published: a model
    #: whose download is larger is fetched again on every visit (None: no limit published)
    storage_cache_limit: ByteSize | None = None
    storage_cache_basis: Basis = "estimated"
    verified: bool


#: A budget that is the device profile's own usable memory (MemoryRule "profile"), as worded.
PROFILE_BUDGET_RULE = "the device profile's usable memory"


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """Memory one model process may use under a target on a device, and why."""

    bytes: int
    basis: str
    rule: str  # e.g. "published: iPhone 13 Pro (6 GB) with entitlement", "50% of RAM", PROFILE_BUDGET_RULE
    source: str
    note: str = ""


class Target(Record):
    """Where the model ships: a server/CLI process, a desktop app, an iOS or Android app, a browser tab."""

    id: str
    name: str
    description: str
    source: str
    device_classes: tuple[DeviceClass, ...]
    #: OS families of the devices it can host on
    platforms: tuple[Platform, ...]
    runtimes: tuple[str, ...]
    memory: MemoryRule
    download_limits: tuple[DownloadLimit, ...] = Field(default=(), alias="download_limit")
    allocation_limits: tuple[AllocationLimit, ...] = Field(default=(), alias="allocation_limit")
    browsers: tuple[BrowserPlatform, ...] = Field(default=(), alias="browser")
    notes: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    @model_validator(mode="after")
    def _check(self) -> Target:
        for kind, items in (("download_limit", self.download_limits), ("allocation_limit", self.allocation_limits),
                            ("browser", self.browsers)):
            ids = [i.id for i in items]
            if len(set(ids)) != len(ids):
                raise ValueError(f"{kind} ids must be unique, got {ids}")
        return self

    @property
    def runtime_platforms(self) -> tuple[Platform, ...]:
        """The platforms a runtime must support to run under this target: "web" for a browser
        target (one with [[target.browser]] entries), else the device platforms."""
        return ("web",) if self.browsers else self.platforms

    def hosts(self, device: DeviceProfile) -> bool:
        """Can this target run on the device (its class and one of its OS families)?"""
        return device.device_class in self.device_classes and any(p in self.platforms for p in device.platforms)

    def browser(self, browser_id: str) -> BrowserPlatform | None:
        return next((b for b in self.browsers if b.id == browser_id), None)

    def browsers_for(self, device: DeviceProfile) -> tuple[BrowserPlatform, ...]:
        return tuple(b for b in self.browsers if any(p in b.host_platforms for p in device.platforms))

    def memory_budget(self, device: DeviceProfile, *, entitlement: bool = False,
                      browser: BrowserPlatform | None = None) -> MemoryBudget:
        """Bytes one model process may use on ``device`` under this target (see MemoryRule), capped
        by the browser's tab limit when ``browser`` is given."""
        from advisor.errors import BadInputError

        m = self.memory
        if entitlement and not m.entitlement:
            raise BadInputError(f"target {self.id} has no memory entitlement; drop the entitlement or use ios-app")
        if m.rule == "profile":
            budget = MemoryBudget(device.memory.usable, device.memory.usable_basis, PROFILE_BUDGET_RULE,
                                  f"the profile of {device.name}", device.memory.usable_note)
        else:
            budget = self._fraction_budget(device, entitlement)
        if browser is not None and browser.tab_memory_limit is not None and browser.tab_memory_limit < budget.bytes:
            budget = MemoryBudget(browser.tab_memory_limit, browser.tab_memory_basis, f"{browser.name} tab limit",
                                  browser.tab_memory_source)
        return budget

    def _fraction_budget(self, device: DeviceProfile, entitlement: bool) -> MemoryBudget:
        m = self.memory
        entries = sorted((p for p in m.published if p.applies_to(device)), key=lambda p: device.id not in p.profiles)
        for p in entries:
            if entitlement and p.usable_with_entitlement is None:
                continue
            value = p.usable_with_entitlement if entitlement else p.usable
            how = "with" if entitlement else "without"
            label = (f"published: {p.device}" + (f", {how} the entitlement" if m.entitlement else "")
                     + ("" if p.verified else " (unverified)"))
            # a figure measured on another device of that RAM is this one's by derivation, not by
            # measurement; one the source marks unverified (rounded, second-hand) is an estimate
            basis = "estimated" if not p.verified else p.basis if device.id in p.profiles else "derived"
            return MemoryBudget(min(int(value), device.memory.ram), basis, label, p.source, p.note)  # type: ignore[arg-type]
        fraction = m.fraction_with_entitlement if entitlement and m.fraction_with_entitlement else m.fraction
        assert fraction is not None  # checked by MemoryRule
        label = f"{fraction:.0%} of RAM" + (" with the entitlement" if entitlement else "")
        return MemoryBudget(int(device.memory.ram * fraction), m.basis, label, m.source, m.note)


# --------------------------------------------------------------------------- calibration


#: The smallest efficiency or factor a PathFactors holds: a thousandth of the physical rate (the
#: lowest shipped is 0.031, a prefill efficiency). Below it a stored calibration is damaged and
#: skipped (a bandwidth efficiency of 1e-300 printed a 300-digit time to first token), and a fit
#: stops there (``engine.calibrate.fit`` keeps every parameter inside its field's bounds).
MIN_FACTOR = 1e-3


class OtherRuntimeFactors(Record):
    """A llama.cpp path's decode factors fitted with its compute efficiency held at the physical
    prior: llama.cpp's speed per byte read and per layer, with no claim about where its kernels'
    compute roofline lies — what another runtime's kernels on the same hardware start from."""

    bw_efficiency: float = Field(ge=MIN_FACTOR, le=4)
    decode_compute_efficiency: float = Field(ge=MIN_FACTOR, le=8)
    fixed_s_per_layer: float = Field(ge=0, le=0.1)


class PathFactors(Record):
    """Empirical factors of one execution path ("cpu-arm", "metal", "cuda", …) or one device.

    Fitted by ``advisor.engine.calibrate`` from measurements; the shipped defaults live in
    ``catalog/calibration.toml`` with the measurements they were fitted on.
    """

    path: str
    bw_efficiency: float = Field(ge=MIN_FACTOR, le=4)
    decode_compute_efficiency: float = Field(ge=MIN_FACTOR, le=8)
    prefill_efficiency: float = Field(ge=MIN_FACTOR, le=8)
    fixed_s_per_layer: float = Field(ge=0, le=0.1)
    #: The fixed cost of a layer in each prefill micro-batch (the kernels a FLOP count does not
    #: time: norms, RoPE, activation quantization, softmax, the tails of GEMMs too small to fill
    #: the GPU); None: the decode's ``fixed_s_per_layer`` (a decode step's per-layer cost).
    prefill_fixed_s_per_layer: float | None = Field(default=None, ge=0, le=0.1)
    #: llama.cpp's matmul kernels differ by weight family: prefill runs at prefill_efficiency for
    #: legacy block types (Q4_0 … Q8_0), × these factors for K/IQ-quants and for float weights.
    prefill_kquant_factor: float = Field(default=1.0, ge=MIN_FACTOR, le=20)
    prefill_float_factor: float = Field(default=1.0, ge=MIN_FACTOR, le=20)
    decode_band: float = Field(gt=0, le=100)  # relative half-width of the ~80% band: 0.3 = ×/÷1.3
    prefill_band: float = Field(gt=0, le=100)
    n_measurements: int = Field(ge=0, le=10**9)
    basis: str
    source: str = ""
    #: Where this path's compute efficiency was fitted to llama.cpp's own kernels: the same rows
    #: fitted without it, the prior of other runtimes on this hardware (``evaluate.runtime_prior``).
    other_runtimes: OtherRuntimeFactors | None = None
    #: A runtime path fitted on some devices (catalog/runtime-calibration.toml): the factors fitted
    #: on its measurements. The rest are each device's own prior (``evaluate.runtime_prior``: llama.cpp's
    #: factors of that hardware), not those of the devices that were measured; the bands are the
    #: path's. None: every factor as written.
    fitted: tuple[Literal["bw_efficiency", "prefill_efficiency"], ...] | None = None

    @property
    def prompt_fixed_s_per_layer(self) -> float:
        """The per-layer cost a prompt's micro-batch pays: ``prefill_fixed_s_per_layer``, else the
        decode's ``fixed_s_per_layer``."""
        return self.fixed_s_per_layer if self.prefill_fixed_s_per_layer is None else self.prefill_fixed_s_per_layer


# --------------------------------------------------------------------------- workload

KvCacheType = Literal["f16", "q8_0", "q4_0"]
FlashAttn = Literal["auto", "on", "off"]

#: Longest context any option or requirements file accepts (tokens): 2^20, above every model's
#: native context in the catalog (the longest is 131,072), so only typos are refused.
MAX_CONTEXT_TOKENS = 1_048_576


@dataclass(frozen=True, slots=True)
class Workload:
    """What the user wants to run: context window, one prompt, one response."""

    context_tokens: int = 4096
    prompt_tokens: int = 512
    output_tokens: int = 256
    kv_cache_type: KvCacheType = "f16"
    n_ubatch: int = 512  # llama.cpp default physical batch
    threads: int | None = None  # None: the device's big cores
    #: llama.cpp's flash attention: "auto" is llama.cpp's own default (enabled on the CPU backend);
    #: llama-cpp-python's high-level Llama() turns it off unless asked
    flash_attn: FlashAttn = "auto"
    #: llama.cpp --n-cpu-moe: the routed experts of blocks 0..N-1 kept in host RAM on a discrete
    #: GPU; None: the fewest that let the rest fit VRAM (``core.expert_offload``)
    n_cpu_moe: int | None = None
    #: llama.cpp repacks some weight types at load for its CPU kernels (its default; ``--no-repack``
    #: turns it off): engine.speed.REPACKED_TYPES, REPACK_PREFILL_SPEEDUP
    cpu_repack: bool = True

    def __post_init__(self) -> None:
        from advisor.errors import BadInputError

        if self.n_cpu_moe is not None and self.n_cpu_moe < 0:
            raise BadInputError(f"--n-cpu-moe must be 0 or more layers (or auto), got {self.n_cpu_moe}")

        for name in ("context_tokens", "prompt_tokens", "output_tokens", "n_ubatch"):
            if getattr(self, name) <= 0:
                raise BadInputError(f"{name.replace('_', ' ')} must be positive")
        if self.flash_attn not in ("auto", "on", "off"):
            raise BadInputError(f"flash attention '{self.flash_attn}' is not one of on, off, auto")
        if self.kv_cache_type != "f16" and self.flash_attn == "off":
            # llama_init_from_model: "quantized V cache requires flash_attn to be enabled" (measured:
            # llama-cpp-python 0.3.36 refuses the context); the KV cache type here sets K and V both
            raise BadInputError(
                f"a {self.kv_cache_type} KV cache needs flash attention: llama.cpp refuses a quantized V cache "
                "without it; turn flash attention on (or auto), or use an f16 KV cache"
            )
        if self.prompt_tokens + self.output_tokens > self.context_tokens:
            reason = Reason("prompt_exceeds_context", value=self.prompt_tokens, second=self.output_tokens,
                            limit=self.context_tokens)
            raise BadInputError(
                f"prompt ({self.prompt_tokens}) + output ({self.output_tokens}) tokens exceed the "
                f"context of {self.context_tokens}; raise the context length or shorten them",
                reason=reason,
            )


# --------------------------------------------------------------------------- reasons

#: The kinds of reason, with the meaning of the figures (units in brackets). Front ends word them
#: (``advisor.wording`` for the CLI and the reports, the dashboard its own way).
REASON_KINDS: dict[str, str] = {
    "memory": "does not fit: value = memory needed, limit = usable memory [bytes]",
    "context": "value = context asked for, limit = the model's native context [tokens]",
    "quality": "value = quality score, limit = the quality floor [0-100]; second as for speed",
    "speed": "value = decode speed (with the memory, when it does not fit), limit = the minimum asked for [tokens/s]; "
             "second = the memory it needs when it does not fit either (UNFIT_SECOND) [bytes]",
    "ttft": "value = time to first token, limit = the maximum allowed [s]; second as for speed",
    "license": "name = the license, category = its class; the class was not allowed",
    "family": "name = the model family, which was not asked for",
    "model": "the model was not among those asked for",
    "offload": "value = layers on the GPU, limit = the model's layers (the rest run on the CPU)",
    "expert_offload": "value = llama.cpp --n-cpu-moe (blocks whose routed experts stay in host RAM and run on the CPU), "
                      "limit = the model's layers, second = those experts' bytes",
    "expert_offload_short": "value = the bytes left on the GPU by the --n-cpu-moe asked for, limit = its usable VRAM, "
                            "second = the --n-cpu-moe that fits (auto's), name = the value asked for",
    "runtime_budget": "value = the share of the detected GPU memory the runtime (name) allocates within; usable_bytes counts it",
    "runtime_context": "value = the context asked for, limit = the runtime backend's KV capacity [tokens]; name = runtime, "
                       "category = backend",
    "prompt_exceeds_context": "value = prompt tokens, second = output tokens, limit = context [tokens]",
    "runtime": "none of the requested runtimes runs on this device",
    "architecture": "name = the model's architecture (gguf_arch), which no runtime considered can load; category = the runtimes that can",
    "miscomputed": "name = the model's architecture (gguf_arch); category = the considered runtimes that load it but compute "
                   "another function (ModelSpec.miscomputed_by), so none is offered",
    "target": "name = the device, which cannot host the deployment target; category = its OS families",
    "browser": "name = the browser asked for, which does not run on this device; category = the browsers that do",
    "tier": "nothing that passes on the rest of its RAM tier passes on this device",
    "limit": "value = a buffer's bytes, limit = the target's limit for it; name = the buffer, category = the limit and where",
    "download": "value = the download's bytes, limit = the most allowed [bytes]; second as for speed",
    "threads": "value = the threads asked for, limit = the CPU's hardware threads, which the estimate uses",
    "busy_profile": "value = the cores other processes used while `advisor profile` measured the device (busy_cores), "
                    "limit = its CPUs: its bandwidth and compute, and so the estimate, may read low",
}

#: Reasons that may name, in ``second``, the memory a candidate needs when it does not fit either
#: (``recommend`` rejects such a candidate for its farthest miss, which may be another limit).
UNFIT_SECOND = frozenset({"speed", "ttft", "quality", "download"})

#: Reasons that mean "not asked for" rather than "cannot run".
FILTER_KINDS = frozenset({"license", "family", "model"})


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a candidate was rejected (or what to know about it): a kind and the figures behind it.

    The engine never words a reason; each front end does, in its own idiom (a CLI flag in the CLI,
    a widget's name in the dashboard). See ``REASON_KINDS`` for each kind's figures."""

    kind: str
    value: float | None = None
    limit: float | None = None
    name: str = ""
    category: str = ""
    second: float | None = None

    @property
    def is_filter(self) -> bool:
        return self.kind in FILTER_KINDS

    @property
    def shortfall(self) -> float:
        """How far the candidate missed its bound: |ln(value / limit)| (0.02 ≈ 2 % off), the same
        for a speed 100× below its bound as for memory 100× above it (a relative difference caps a
        shortfall below a bound at 1, so a 100× too slow candidate looked closer than one needing
        twice the memory); filters, figure-less reasons and a zero figure sort last (infinity)."""
        if self.value is None or not self.limit or self.is_filter or self.value <= 0 or self.limit <= 0:
            return float("inf")
        return abs(math.log(self.value / self.limit))


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True, slots=True)
class Band:
    """A confidence band around an estimate: [low, high] at roughly 80% coverage."""

    low: float
    high: float


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    compute_buffer_bytes: int
    overhead_bytes: int
    # where the bytes live when a discrete GPU takes part
    gpu_bytes: int = 0
    #: recurrent (conv/SSM) state of hybrid models' recurrent layers, fixed per sequence
    recurrent_state_bytes: int = 0
    #: MoE expert offload: llama.cpp's --n-cpu-moe value and the expert bytes it keeps in host RAM
    n_cpu_moe: int = 0
    cpu_moe_bytes: int = 0
    #: llama.cpp's CPU_REPACK buffer: the matrices it copies at load into its CPU kernels' layout
    #: (``speed.is_repacked``). Not in the total: with the file memory-mapped (the default) the
    #: file's pages of those matrices, read once at load, stay mapped beside the copy, clean and
    #: reclaimable, so the total counts the weights once; the resident set reads up to total + this.
    repacked_bytes: int = 0
    #: another runtime's weights packed at load (``RuntimeFormat.load_copy``): what it holds beside
    #: the file's weights, and the moment's extra while it packs the largest matrix
    load_copy_bytes: int = 0
    load_transient_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return int(memory_total(self.weights_bytes, self.kv_cache_bytes, self.recurrent_state_bytes, self.compute_buffer_bytes,
                                self.overhead_bytes, self.load_copy_bytes, self.load_transient_bytes))

    @property
    def load_peak_bytes(self) -> int:
        """What the total holds above weights, packed copy, overhead and the run's buffers: the load's
        transient where it outweighs those buffers (``memory_total``), else 0."""
        return max(0, self.load_transient_bytes - (self.kv_cache_bytes + self.recurrent_state_bytes + self.compute_buffer_bytes))


def memory_total(weights: Num, kv: Num, recurrent: Num, compute: Num, overhead: Num, load_copy: Num = 0, load_transient: Num = 0) -> Num:
    """The memory a model needs at its peak: weights + packed copy + overhead + the larger of the
    run's buffers (KV cache + recurrent state + compute buffers) and the load's transient (the
    largest matrix twice while a runtime packs it at load: ONNX Runtime's prepacking, measured on
    its fp32 build as 519 MiB above the loaded state before any buffer of the run exists)."""
    return weights + load_copy + overhead + maximum(kv + recurrent + compute, load_transient)


@dataclass(frozen=True, slots=True)
class SpeedEstimate:
    decode_tokens_per_s: float
    decode_band: Band
    decode_bound: Literal["memory", "compute", "overhead"]
    prefill_tokens_per_s: float
    prefill_band: Band
    prefill_bound: Literal["memory", "compute"]
    ttft_s: float
    response_s: float
    energy_j_per_token: float | None
    energy_j_per_response: float | None
    backend: str
    threads: int
    gpu_layers: int  # layers offloaded to a GPU (0 = CPU only)
    basis: str  # e.g. "datasheet bandwidth × class efficiency (cpu-arm, fit on 12 measurements)"
    bytes_per_token: int
    #: decode after minutes of continuous generation (thermal throttling), where the device's
    #: profile has a published figure (``PowerSpec.sustained``); None: no published figure
    sustained_decode_tokens_per_s: float | None = None
    sustained_basis: str = ""
    #: the CPU prefill speed-up of llama.cpp's load-time weight repacking in this estimate
    #: (engine.speed.REPACK_PREFILL_SPEEDUP; 1: none — not repacked, no measured gain, or on a GPU)
    prefill_repack_speedup: float = 1.0
    #: the prefill rate's terms (peak × efficiency × weight types, FLOPs per prompt token), worded
    prefill_basis: str = ""
    #: the power figure the energy figures (and tok/s per W) are based on, worded
    #: (``engine.speed.device_power_basis``)
    energy_basis: str = ""


@dataclass(frozen=True, slots=True)
class LoadEstimate:
    """Time until a model is ready for its first prompt token (engine.load): from a warm page cache
    (the file's pages already in RAM: a restart) and from a cold one (read from storage: the first
    start after boot); ``cold_s`` is None when the profile gives no storage speed.

    In a browser tab (``browser`` set) the weights come from the browser's storage (Cache API,
    OPFS, IndexedDB), not a memory-mapped file: the cold figure is a *later visit*, the weights
    already stored; the first visit downloads them, a time that depends on the network and is not
    predicted (``first_visit_download_bytes`` says how much it fetches)."""

    file_bytes: int
    warm_s: float
    cold_s: float | None
    #: time to first token of a cold start: cold load + prefill of the prompt
    cold_ttft_s: float | None
    storage_kind: str | None
    storage_read_mb_s: float | None
    storage_basis: str | None
    basis: str
    #: the browser (``BrowserPlatform``) whose storage serves the weights; None: a native process
    browser: str | None = None
    browser_name: str | None = None
    #: what the catalog says about that browser's storage (a quota that makes models re-download), or ""
    browser_storage_note: str = ""
    #: a browser's first visit: the bytes it downloads (model file + runtime library where
    #: published) before the load; its time is not predicted. None outside a browser.
    first_visit_download_bytes: int | None = None
    #: the load copies the weights into a GPU's own buffers (a discrete GPU's VRAM, WebGPU
    #: buffers) and ``warm_s``/``cold_s`` do not include that copy
    vram_copy_excluded: bool = False
    #: the browser's published cache-storage limit (``BrowserPlatform.storage_cache_limit``) that
    #: the download exceeds: nothing is kept between visits, every visit is a first visit and
    #: ``cold_s`` is None. None: within the limit, no limit published, or not a browser.
    storage_cache_limit_exceeded: int | None = None

    @property
    def cold_case(self) -> Literal["first-start", "later-visit", "every-visit-downloads"]:
        """What the cold figure is: a native process's first start after boot (the file not in the
        page cache), a browser's later visit (the weights in its storage, not in the page cache),
        or none: the download exceeds the browser's cache storage, so every visit downloads."""
        if self.browser is None:
            return "first-start"
        return "every-visit-downloads" if self.storage_cache_limit_exceeded is not None else "later-visit"


@dataclass(frozen=True, slots=True)
class Estimate:
    """Everything the engine says about one model × quant × device × workload."""

    model_id: str
    quant_id: str
    device_id: str
    memory: MemoryEstimate
    usable_bytes: int
    fit: Literal["fits", "tight", "offload", "no"]
    speed: SpeedEstimate | None
    quality_score: float
    reasons: tuple[Reason, ...] = field(default=())
    #: the runtime and its backend (llama.cpp's backend is the speed path: cpu-arm, metal, …)
    runtime: str = "llama.cpp"
    backend: str = ""
    #: load time, warm and cold, and the cold-start time to first token (with speed only)
    load: LoadEstimate | None = None

    @property
    def headroom_bytes(self) -> int:
        return self.usable_bytes - self.memory.total_bytes
