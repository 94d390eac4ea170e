"""Tables derived from the catalog (layer sums, weight bytes per file type, the quality table),
computed once per catalog object and owned by it — no module-level state in the engine.

A ``Catalog`` makes one ``Derived`` when it is built (``catalog.derived``) and every engine
function reads the derived figures from there. Results are memoized by id *and* checked for
identity against the catalog's own records: a model that is not the catalog's (a user's
``--model-config``, a test's modified copy) is computed afresh, never served a stale entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from advisor.engine import memory as mem
from advisor.engine import quality
from advisor.engine.tensors import LayerSums, Tensor, layer_sums, tensor_inventory
from advisor.records import FileType, GgmlType, ModelSpec


class CatalogTables(Protocol):
    models: Mapping[str, ModelSpec]
    ggml_types: Mapping[str, GgmlType]
    file_types: Mapping[str, FileType]


@dataclass(frozen=True)
class QualityTable:
    base: Mapping[str, quality.BaseQuality]
    rel_ppl: Mapping[str, float]
    fit: quality.SizeFit
    #: (bits per weight, relative Δppl) of the group-wise GGUF types, for runtime formats
    groupwise: tuple[tuple[float, float], ...]

    def score(self, model: ModelSpec, ftype: Any) -> float:
        """Quality of ``model`` in a GGUF file type, or in a runtime's own format (by the bits per
        weight that carry precision in its linear layers, ``quality.quality_bits_per_weight``,
        read by ``quality.groupwise_rel_ppl``)."""
        base = self.base.get(model.id) or quality.base_quality(model, self.fit)
        if isinstance(ftype, FileType):
            rel = self.rel_ppl.get(ftype.id, 0.0)
        else:
            rel = quality.groupwise_rel_ppl(quality.quality_bits_per_weight(ftype.linear), self.groupwise)
        if isinstance(ftype, FileType) and ftype.id == model.native_format:
            # released quantized: the published (or estimated) score is the native file's own.
            # Another file requantizes those weights and adds its own error on top (its Δppl as
            # measured from F16, the noise of its grid): never above the native file
            rel = 0.0
        return quality.quantized_score(base, model, rel)


@dataclass(frozen=True, slots=True)
class WeightTerms:
    """Bytes of every weight tensor under one format, and of an untied token_embd (a lookup
    table, not read per decoded token)."""

    total_bytes: int
    lookup_bytes: int
    #: routed-expert tensors (MoE): resident in full, read at n_experts_used / n_experts per token
    expert_bytes: int = 0
    #: expert_bytes of each MoE layer in block order (``memory.expert_bytes_by_layer``); empty: a
    #: runtime format without the split (the layers are then taken as equal)
    expert_layer_bytes: tuple[int, ...] = ()
    #: CPU prefill speed-up of llama.cpp's load-time repacking on each speed.REPACK_FAMILIES
    #: family (speed.repack_prefill_speedups); empty: not a GGUF (1 everywhere)
    repack_speedups: tuple[float, ...] = ()
    #: (K/IQ-quant, float) shares of the prefill matrices (speed.prefill_family_shares); empty: not a GGUF
    family_shares: tuple[float, ...] = ()
    #: bytes llama.cpp copies into its CPU_REPACK buffer on each speed.REPACK_FAMILIES family, all
    #: and the routed experts' part (speed.repacked_bytes); empty: not a GGUF (nothing repacked)
    repacked_bytes: tuple[int, ...] = ()
    repacked_expert_bytes: tuple[int, ...] = ()
    #: another runtime's weights packed at load: bytes it holds beside the file's weights, and the
    #: moment's extra while it packs the largest matrix (runtime_weights.load_copy_bytes); 0: none
    load_copy_bytes: int = 0
    load_transient_bytes: int = 0


def gguf_weight_terms(model: ModelSpec, rows: Sequence[tuple[Any, str, int]]) -> WeightTerms:
    """WeightTerms of a GGUF from its ``memory.per_tensor_bytes`` rows."""
    from advisor.engine.speed import prefill_family_shares, repack_prefill_speedups, repacked_bytes

    return WeightTerms(*mem.weight_split(model, rows), mem.expert_bytes_by_layer(rows), repack_prefill_speedups(rows),
                       prefill_family_shares(rows), *repacked_bytes(rows))


class Derived:
    """Memo of derived tables for one catalog (see the module docstring)."""

    def __init__(self, tables: CatalogTables) -> None:
        self._tables = tables
        self._sums: dict[str, LayerSums] = {}
        self._inventory: dict[str, tuple[Tensor, ...]] = {}
        self._weights: dict[tuple[str, str], WeightTerms] = {}
        self._quality: QualityTable | None = None
        self._runtime_weights: dict[tuple[str, str, str], WeightTerms] = {}
        self._largest: dict[tuple[str, str, str], tuple[str, int]] = {}

    def memo_size(self) -> int:
        """How many derived entries are memoized (the catalog cache re-stores a catalog whose memo
        grew, so the next process starts with the tables this one computed)."""
        return len(self._sums) + len(self._weights) + len(self._runtime_weights) + (self._quality is not None)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for the catalog cache: the sums, weights and the quality table, not the tensor
        inventories (many small objects, slower to unpickle than to rebuild when a new format
        needs them)."""
        state = dict(self.__dict__)
        state["_inventory"] = {}
        return state

    def _owned(self, model: ModelSpec) -> bool:
        return self._tables.models.get(model.id) is model

    def sums(self, model: ModelSpec) -> LayerSums:
        if not self._owned(model):
            return layer_sums(model)
        hit = self._sums.get(model.id)
        if hit is None:
            hit = self._sums[model.id] = layer_sums(model)
        return hit

    def inventory(self, model: ModelSpec) -> tuple[Tensor, ...]:
        if not self._owned(model):
            return tensor_inventory(model)
        hit = self._inventory.get(model.id)
        if hit is None:
            hit = self._inventory[model.id] = tensor_inventory(model)
        return hit

    def weights(self, model: ModelSpec, ftype: FileType) -> WeightTerms:
        """Σ per-tensor bytes under the file type's mix (see ``memory.weights_bytes``)."""
        owned = self._owned(model) and self._tables.file_types.get(ftype.id) is ftype
        key = (model.id, ftype.id)
        hit = self._weights.get(key) if owned else None
        if hit is None:
            rows = mem.per_tensor_bytes(model, ftype, self._tables.ggml_types, inventory=self.inventory(model))
            hit = gguf_weight_terms(model, rows)
            if owned:
                self._weights[key] = hit
        return hit

    def runtime_weights(self, model: ModelSpec, runtime: Any, fmt: Any) -> WeightTerms:
        """Weights of ``model`` in a runtime's own format (``engine.runtime_weights``)."""
        from advisor.engine.runtimes import weight_terms

        owned = self._owned(model)
        key = (model.id, runtime.id, fmt.id)
        hit = self._runtime_weights.get(key) if owned else None
        if hit is None:
            hit = weight_terms(model, fmt, self.inventory(model))
            if owned:
                self._runtime_weights[key] = hit
        return hit

    def largest_tensor(self, model: ModelSpec, fmt: Any, runtime_id: str) -> tuple[str, int]:
        """(name, bytes) of the largest weight tensor of ``model`` in ``fmt`` (a GGUF file type or
        a runtime's own format): what a per-buffer limit (a WebGPU binding) is checked against."""
        key = (model.id, runtime_id, fmt.id)
        owned = self._owned(model)
        hit = self._largest.get(key) if owned else None
        if hit is None:
            inventory = self.inventory(model)
            if isinstance(fmt, FileType):  # a GGUF tensor holds its blocks' scales: one array
                rows = mem.per_tensor_bytes(model, fmt, self._tables.ggml_types, inventory=inventory)
                t, _, nbytes = max(rows, key=lambda r: r[2])
                hit = (t.name, nbytes)
            else:
                from advisor.engine import runtime_weights

                hit = runtime_weights.largest_array(inventory, fmt, tied=model.tied_embeddings)
            if owned:
                self._largest[key] = hit
        return hit

    def forget_quality(self) -> None:
        """Recompute the quality table on next use (a model was added to the catalog)."""
        self._quality = None

    def quality(self) -> QualityTable:
        if self._quality is None:
            t = self._tables
            fit = quality.fit_size_model(t.models.values())
            self._quality = QualityTable(
                base={m.id: quality.base_quality(m, fit) for m in t.models.values()},
                rel_ppl={f.id: quality.relative_ppl_increase(f, t.ggml_types, t.file_types.values()) for f in t.file_types.values()},
                fit=fit,
                groupwise=quality.groupwise_points(t.ggml_types, t.file_types.values()),
            )
        return self._quality
