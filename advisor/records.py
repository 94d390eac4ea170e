"""Typed records: catalog entries (validated, frozen pydantic models) and engine results
(frozen dataclasses, cheap to build in the grid).

Sizes inside records are integers of bytes; bandwidths GB/s (10^9 B/s) as published; compute
GFLOPS/TFLOPS as published. Units are parsed in ``advisor.units`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from advisor.units import GIB, parse_size


def _size(value: object) -> int:
    try:
        return parse_size(value)  # type: ignore[arg-type]
    except Exception as exc:  # pydantic wants ValueError to report the field
        raise ValueError(str(exc)) from None


ByteSize = Annotated[int, BeforeValidator(_size)]
Basis = Literal["datasheet", "derived", "measured", "estimated", "calibrated"]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    "qwen3moe", "olmoe", "granitemoe", "gpt-oss", "phimoe",  # mixture of experts
    "deepseek2",  # MLA attention + MoE with shared experts and leading dense layers
    "gemma3n",  # per-layer embeddings, AltUp, LAuReL, KV shared across the last layers
    "lfm2", "lfm2moe",  # hybrid: short-convolution layers beside attention layers (lfm2moe also MoE)
    "granitehybrid",  # hybrid: Mamba2 layers beside attention layers, dense or MoE FFN
]


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
    the inventory and its types are the weights, whatever file type is asked for.
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
    params: int = Field(gt=0)
    params_published: str
    context_length: int = Field(gt=0)
    max_position_embeddings: int = Field(gt=0)
    n_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    ffn_size: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    tied_embeddings: bool
    attn_bias: bool
    qk_norm: bool
    norm: Literal["rms", "layer"]
    ffn_gated: bool
    post_norms: bool
    sliding_window: int = Field(ge=0)
    swa_global_every: int = Field(ge=0)
    n_heads_per_layer: tuple[int, ...] | None = None
    n_kv_heads_per_layer: tuple[int, ...] | None = None
    ffn_size_per_layer: tuple[int, ...] | None = None
    n_experts: int = Field(default=0, ge=0)
    n_experts_used: int = Field(default=0, ge=0)
    expert_ffn_size: int = Field(default=0, ge=0)
    shared_expert_ffn_size: int = Field(default=0, ge=0)
    n_dense_layers: int = Field(default=0, ge=0)
    shortconv_l_cache: int = Field(default=0, ge=0)
    ssm_d_state: int = Field(default=0, ge=0)  # Mamba2 state size per head channel
    ssm_d_conv: int = Field(default=0, ge=0)  # Mamba2 conv kernel
    ssm_n_group: int = Field(default=0, ge=0)
    ssm_n_heads: int = Field(default=0, ge=0)  # Mamba2 heads (GGUF ssm.time_step_rank)
    rope_dims: int = Field(default=0, ge=0)  # rotary dims per head when partial (Phi-2, GPT-NeoX); 0 = head_dim
    #: MLA (DeepSeek-V2): the KV cache holds one compressed latent of kv_lora_rank + rope_dims
    #: values per token and layer (llama.cpp keeps no separate V for MLA); head_dim is the q/k head
    #: (nope + rope), v_head_dim the value head
    kv_lora_rank: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0)
    #: Gemma 3n: per-layer embeddings of this width per layer (a lookup table, never streamed),
    #: AltUp streams and LAuReL rank (llama.cpp hard-codes 256 / 4 / 64), and KV kept only for the
    #: first n_kv_layers layers (the rest reuse it; llama.cpp hard-codes 20); 0 = not used / all layers
    per_layer_input_dims: int = Field(default=0, ge=0)
    altup_inputs: int = Field(default=0, ge=0)
    laurel_rank: int = Field(default=0, ge=0)
    n_kv_layers: int = Field(default=0, ge=0)
    file_tensors: tuple[FileTensor, ...] | None = None
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

    @property
    def params_b(self) -> float:
        return self.params / 1e9


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


class Price(Record):
    usd: float = Field(gt=0)
    basis: Basis
    note: str = ""


class Cluster(Record):
    name: str
    cores: int = Field(gt=0)
    ghz: float = Field(gt=0)


class MemorySpec(Record):
    ram: ByteSize
    type: str
    bus_width_bits: int | None = None
    bandwidth_gbs: float = Field(gt=0)
    bandwidth_basis: Basis
    bandwidth_note: str = ""
    usable: ByteSize
    usable_basis: Basis
    usable_note: str = ""
    unified: bool
    llc: ByteSize | None = None
    llc_bandwidth_gbs: float | None = None

    @model_validator(mode="after")
    def _usable_le_ram(self) -> "MemorySpec":
        if self.usable > self.ram:
            raise ValueError("usable memory is larger than ram")
        return self


class CpuSpec(Record):
    name: str
    arch: Literal["arm64", "x86_64"]
    isa: tuple[str, ...] = ()
    cores: int = Field(gt=0)
    threads: int = Field(gt=0)
    clusters: tuple[Cluster, ...]
    fp32_gflops: float = Field(gt=0)
    fp32_gflops_basis: Basis
    fp32_gflops_note: str = ""

    @property
    def big_cores(self) -> int:
        """Cores of the fastest cluster(s): the threads that help decode on big.LITTLE."""
        fastest = max(c.ghz for c in self.clusters)
        return sum(c.cores for c in self.clusters if c.ghz >= 0.75 * fastest)


class GpuSpec(Record):
    name: str
    backend: Backend
    fp16_tflops: float = Field(gt=0)
    fp16_tflops_basis: Basis
    fp16_tflops_note: str = ""
    discrete: bool
    vram: ByteSize | None = None
    vram_usable: ByteSize | None = None
    vram_bandwidth_gbs: float | None = None
    vram_bandwidth_basis: Basis | None = None
    usable_by_llama_cpp: bool

    @model_validator(mode="after")
    def _discrete_has_vram(self) -> "GpuSpec":
        if self.discrete and not (self.vram and self.vram_usable and self.vram_bandwidth_gbs):
            raise ValueError("a discrete GPU needs vram, vram_usable and vram_bandwidth_gbs")
        if self.vram and self.vram_usable and self.vram_usable > self.vram:
            raise ValueError("vram_usable is larger than vram")
        return self


class NpuSpec(Record):
    name: str
    tops: float | None = None
    note: str = ""


class PowerSpec(Record):
    typical_w: float | None = Field(default=None, gt=0)
    max_w: float = Field(gt=0)
    basis: Basis
    note: str = ""


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
    price: Price | None = None
    memory: MemorySpec
    cpu: CpuSpec
    gpu: GpuSpec | None = None
    npu: NpuSpec | None = None
    power: PowerSpec

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def device_class(self) -> str:
        return self.class_

    @property
    def gpu_usable(self) -> bool:
        return bool(self.gpu and self.gpu.usable_by_llama_cpp and self.gpu.backend not in ("none", "cpu"))

    @property
    def ram_gib(self) -> float:
        return self.memory.ram / GIB


# --------------------------------------------------------------------------- calibration


class PathFactors(Record):
    """Empirical factors of one execution path ("cpu-arm", "metal", "cuda", …) or one device.

    Fitted by ``advisor.engine.calibrate`` from measurements; the shipped defaults live in
    ``catalog/calibration.toml`` with the measurements they were fitted on.
    """

    path: str
    bw_efficiency: float = Field(gt=0, le=4)
    decode_compute_efficiency: float = Field(gt=0, le=8)
    prefill_efficiency: float = Field(gt=0, le=8)
    fixed_s_per_layer: float = Field(ge=0, le=0.1)
    #: llama.cpp's matmul kernels differ by weight family: prefill runs at prefill_efficiency for
    #: legacy block types (Q4_0 … Q8_0), × these factors for K/IQ-quants and for float weights.
    prefill_kquant_factor: float = Field(default=1.0, gt=0, le=20)
    prefill_float_factor: float = Field(default=1.0, gt=0, le=20)
    decode_band: float = Field(gt=0)  # relative half-width of the ~80% band: 0.3 = ×/÷1.3
    prefill_band: float = Field(gt=0)
    n_measurements: int = Field(ge=0)
    basis: str
    source: str = ""


# --------------------------------------------------------------------------- workload

KvCacheType = Literal["f16", "q8_0", "q4_0"]
FlashAttn = Literal["auto", "on", "off"]


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

    def __post_init__(self) -> None:
        from advisor.errors import BadInputError

        for name in ("context_tokens", "prompt_tokens", "output_tokens", "n_ubatch"):
            if getattr(self, name) <= 0:
                raise BadInputError(f"{name.replace('_', ' ')} must be positive")
        if self.flash_attn not in ("auto", "on", "off"):
            raise BadInputError(f"flash attention '{self.flash_attn}' is not one of on, off, auto")
        if self.prompt_tokens + self.output_tokens > self.context_tokens:
            raise BadInputError(
                f"prompt ({self.prompt_tokens}) + output ({self.output_tokens}) tokens exceed the "
                f"context of {self.context_tokens}; raise --context or shorten them"
            )


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

    @property
    def total_bytes(self) -> int:
        return (self.weights_bytes + self.kv_cache_bytes + self.recurrent_state_bytes + self.compute_buffer_bytes
                + self.overhead_bytes)


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
    reasons: tuple[str, ...] = field(default=())

    @property
    def headroom_bytes(self) -> int:
        return self.usable_bytes - self.memory.total_bytes
