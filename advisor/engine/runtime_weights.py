"""Weights of a model in a runtime's own format (MLC ``q4f16_1``, MLX ``4bit``, ExecuTorch
``8da4w``, ORT GenAI ``int4`` …), tensor by tensor — the same inventory as the GGUF path
(``engine.tensors``), each tensor stored as its class says in ``catalog/runtimes.toml``:

* ``token_embd.weight`` → the format's embedding storage;
* ``output.weight`` (untied lm_head) → its output storage; a tied model's shared matrix is stored
  as the embedding, as the output, or twice ("both": ExecuTorch recipes keep an int8 copy of each);
* every other matrix → the linear storage (``MatMulNBits``, ``QuantizedLinear``, …);
* a matrix of any of these roles whose input dimension is not a multiple of its storage's group
  stays in the ``other`` storage (the model dtype) where the runtime leaves such matrices
  unquantized (``indivisible = "unquantized"``: MLX ``quantize_model``'s predicate, ExecuTorch
  quantize.py's ``filter_fn`` — the output projection included: SmolLM2's 576-wide lm_head stays
  fp32 at group 128, measured on ExecuTorch's own .pte), or in a group halved until it divides
  the dimension (``indivisible = "halve"``: MNN llmexport's ``torch_utils._quant_on_device``,
  ``while ic % block_size != 0: block_size /= 2`` — SmolLM2's 576 at block 128 is quantized in
  blocks of 64, measured on llmexport's own llm.mnn.weight);
* 1-D tensors (norms, biases) → the format's ``other`` storage (model dtype).

Bytes per tensor are ``TensorQuant.tensor_bytes(rows, cols)`` (data bits + one scale/zero per
group), with cols the input dimension (ggml ``ne[0]``) along which groups run.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence

from advisor.engine.tensors import Tensor


class TensorStorage(Protocol):
    group: object

    def tensor_bytes(self, rows: int, cols: int) -> int: ...

    def data_bytes(self, rows: int, cols: int) -> int: ...

    def groups(self, rows: int, cols: int) -> int: ...


class FormatLayout(Protocol):
    """What this module reads of a ``records.RuntimeFormat``."""

    linear: TensorStorage
    other: TensorStorage
    tied: str
    indivisible: str
    load_copy: object

    @property
    def embedding_quant(self) -> TensorStorage: ...

    @property
    def output_quant(self) -> TensorStorage: ...


def tensor_role(t: Tensor) -> str:
    """'embedding', 'output', 'linear' (any other matrix) or 'other' (1-D)."""
    if t.name == "token_embd.weight":
        return "embedding"
    if t.name == "output.weight":
        return "output"
    return "linear" if t.is_matrix else "other"


def _storage(fmt: FormatLayout, role: str, cols: int) -> TensorStorage:
    if role == "other":
        return fmt.other
    storage = {"embedding": fmt.embedding_quant, "output": fmt.output_quant}.get(role, fmt.linear)
    group = storage.group
    if isinstance(group, int) and group > 0 and cols % group:
        if fmt.indivisible == "unquantized":
            return fmt.other
        if fmt.indivisible == "halve":
            while cols % group:
                group //= 2
            return storage.model_copy(update={"group": group})
    return storage


def per_tensor_bytes(inventory: Sequence[Tensor], fmt: FormatLayout, *, tied: bool) -> list[tuple[Tensor, str, int]]:
    """(tensor, role, bytes) for every tensor, plus a second copy of a tied embedding stored as the
    output too (``tied = "both"``) or instead (``"output"``)."""
    out: list[tuple[Tensor, str, int]] = []
    for t in inventory:
        cols = t.shape[0]
        rows = t.n_elements // cols
        role = tensor_role(t)
        if role == "embedding" and tied and fmt.tied in ("output", "both"):
            out.append((Tensor("output.weight", t.shape, None), "output", _storage(fmt, "output", cols).tensor_bytes(rows, cols)))
            if fmt.tied == "output":
                continue
        out.append((t, role, _storage(fmt, role, cols).tensor_bytes(rows, cols)))
    return out


def largest_array(inventory: Sequence[Tensor], fmt: FormatLayout, *, tied: bool) -> tuple[str, int]:
    """(name, bytes) of the largest single array of the format's file: a quantized tensor's values,
    its scales being an array of their own (MLC's q_weight / q_scale; every runtime format here
    keeps them apart) — what a per-buffer limit such as a WebGPU binding meets."""
    best = ("", 0)
    for t, role, _ in per_tensor_bytes(inventory, fmt, tied=tied):
        cols = t.shape[0]
        rows = t.n_elements // cols
        nbytes = _storage(fmt, role, cols).data_bytes(rows, cols)
        if nbytes > best[1]:
            best = (t.name, nbytes)
    return best


def weights_and_lookup(rows: Iterable[tuple[Tensor, str, int]], *, tied: bool) -> tuple[int, int]:
    """(total bytes, bytes of a token_embd that is only looked up — not read per decoded token:
    an untied embedding, or a tied one the runtime also stores as a separate output)."""
    rows = list(rows)
    total = sum(b for _, _, b in rows)
    has_output = any(role == "output" for _, role, _ in rows)
    lookup = sum(b for _, role, b in rows if role == "embedding") if (has_output or not tied) else 0
    return total, lookup


def packed_matrix(role: str, tied: bool, fmt_tied: str) -> bool:
    """Whether a tensor of ``role`` is a weight a MatMul multiplies (and a runtime that packs at
    load packs): every linear matrix and the output projection; the embedding only when it is a
    tied model's one shared matrix (stored as the embedding, ``tied = "embedding"``) — an untied
    embedding, or the separate copy of ``tied = "both"``, is only looked up."""
    return role in ("linear", "output") or (role == "embedding" and tied and fmt_tied == "embedding")


def load_copy_bytes(rows: Iterable[tuple[Tensor, str, int]], fmt: FormatLayout, *, tied: bool) -> tuple[int, int]:
    """(held, transient) bytes a runtime that packs its weights at load (``RuntimeFormat.load_copy``)
    adds to the file's weights: held = block_extra_bytes per quantization block of every packed
    matrix (``packed_matrix``), + the stored bytes of a tied model's shared matrix when the lookup
    keeps it beside the packed copy (``tied_copy``; not with ``tied = "both"``, two tensors already);
    transient = the values of the largest packed matrix, twice for a moment while it is packed
    (``transient``). ``rows``: ``per_tensor_bytes`` of the model in ``fmt``. (0, 0) for a format
    without ``load_copy``."""
    lc = getattr(fmt, "load_copy", None)
    if lc is None:
        return 0, 0
    held = transient = 0
    for t, role, nbytes in rows:
        if not packed_matrix(role, tied, fmt.tied):
            continue
        cols = t.shape[0]
        rows = t.n_elements // cols
        storage = _storage(fmt, role, cols)
        held += lc.block_extra_bytes * storage.groups(rows, cols)
        if lc.tied_copy and tied and fmt.tied != "both" and role in ("embedding", "output"):
            held += nbytes
        if lc.transient:
            transient = max(transient, storage.data_bytes(rows, cols))
    return held, transient
