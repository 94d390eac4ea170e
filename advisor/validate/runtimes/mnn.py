"""MNN-LLM (``mnn``, CPU backend): twins exported by MNN's own LLM exporter (``llmexport`` 0.0.5 from
PyPI: ``--export mnn --quant_bit … --quant_block …``), measured through pymnn's ``MNN.llm`` (the
``MNN`` 3.6.1 wheel: the C++ ``Llm`` of MNN's transformers/llm engine) in a child process.

The exporter reads a Hugging Face folder: ``common.hf_twin`` writes the catalog model's exact
architecture with random bf16 weights, so nothing is downloaded. Its tokenizer is written again
beside it as a **WordPiece** model (``tokenizer/``, passed as ``--tokenizer_path``): llmexport's
``tokenizer.mtok`` writer (``utils/tokenizer.py`` ``export_mtok``) knows BPE, WordPiece and Unigram
models only, and the word-level tokenizer of the other twins leaves the model section out — MNN
then crashes in ``Llm::load``. Every ``tokN`` is a whole word of the vocabulary either way.

How llmexport stores the weights (read in site-packages ``llmexport/utils/mnn_converter.py`` and
``torch_utils.py``): the graph goes to ``llm.mnn``; every Linear (q, k, v, o, gate, up, down, the
lm_head) becomes a ``Convolution`` whose data is in ``llm.mnn.weight`` at ``external = [offset,
weight bytes, alpha bytes, bias bytes, 0]``: a header (1 byte, the two dims as int16 — int32 past
65,535 —, the 2^bits + 1 int8 value map), the values packed at ``quant_bit`` (two per byte at 4),
then ``alpha``: per block of ``quant_block`` inputs (0: the whole row) a **float32 zero and a
float32 scale**, interleaved (``--sym``: the scale only), then a float32 bias. A block that does not
divide the input dimension is halved until it does (``_quant_on_device``). RMSNorms are
``LayerNorm`` ops whose float32 gamma **and beta** (zeros: MNN's LayerNorm keeps both) are in the
same file. A tied model's embedding is not exported: the runtime gathers rows of the quantized
lm_head (``llm_config.json`` ``tie_embeddings``: offsets of its values and alpha); an untied
model's is ``embeddings_bf16.bin`` (``--embed_bit 16``, the default).

``tensor_layout`` reads the graph as MNN's own converter dumps it (``llm.mnn.json``: llmexport's
last step, ``mnn2json`` of the final ``llm.mnn``; dumped again with MNN's converter when missing)
and lists every span of ``llm.mnn.weight`` and the embedding file; the spans add up to the file's
size exactly (checked).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError, RunError
from advisor.records import ModelSpec
from advisor.validate.runtimes.common import (
    MeasureSettings,
    TensorLayout,
    architecture_key,
    atomic_dir,
    hf_twin,
    run_child,
    run_tool,
    runtime_missing,
)

NAME = "mnn"
EXTRA = "mnn"

#: format name (catalog/runtimes.toml) → (``--quant_bit``, ``--quant_block``). Asymmetric, as
#: llmexport's default (no ``--sym``). llmexport 0.0.5's own default is 4 bits in blocks of 64
#: (``int4-block64``); ``int4`` is per channel (``--quant_block 0``).
FORMATS: dict[str, tuple[int, int]] = {
    "int4": (4, 0),
    "int4-block64": (4, 64),
    "int4-block128": (4, 128),
    "int8": (8, 0),
}

def require() -> dict[str, str]:
    """Versions of MNN (pymnn, the runtime), llmexport (the exporter), torch and transformers, or
    the error naming the install command."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import MNN.llm  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        from importlib.util import find_spec

        if find_spec("llmexport") is None:
            raise ImportError("llmexport")
    except ImportError:
        raise runtime_missing("mnn", EXTRA, "MNN") from None
    out = {}
    for dist in ("MNN", "llmexport", "torch", "transformers"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def check_format(fmt: str) -> tuple[int, int]:
    if fmt not in FORMATS:
        raise BadInputError(f"unknown MNN format '{fmt}'; valid: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def export_argv(hf_folder: Path, tokenizer_folder: Path, out_dir: Path, fmt: str) -> list[str]:
    """The ``llmexport`` command line of ``fmt`` (its own flags)."""
    bits, block = check_format(fmt)
    return ["--path", str(hf_folder), "--tokenizer_path", str(tokenizer_folder), "--export", "mnn",
            "--quant_bit", str(bits), "--quant_block", str(block), "--dst_path", str(out_dir)]


def write_wordpiece_tokenizer(folder: Path, hf_folder: Path, vocab_size: int) -> Path:
    """The twin's vocabulary (``<unk>``, ``<s>``, ``</s>``, ``tok3`` …) as a WordPiece
    ``tokenizer.json`` — a model llmexport's .mtok writer knows — with the twin's tokenizer config."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"tok{i}": i for i in range(3, vocab_size)})
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    tok.save(str(folder / "tokenizer.json"))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).write_text((hf_folder / name).read_text())
    return folder


# llmexport.py run as upstream runs it (``python llmexport.py`` in its own folder): the wheel's
# console script fails (``from utils.model import …`` needs the package folder on sys.path). MNN's
# converter wrapper (MNN/tools/mnnconvert.py) imports MNN/tools/utils/log.py, which runs ``pip
# install -U aliyun-log-python-sdk`` (the PATH's pip: whatever Python that is) to report usage;
# blocking that module makes the wrapper skip it (``mnn_logger = None``), as it does offline.
EXPORT_DRIVER = r"""
import importlib.util, os, sys
sys.modules["MNN.tools.utils.log"] = None
sys.path.insert(0, os.path.dirname(importlib.util.find_spec("llmexport").origin))
from llmexport import main
sys.argv = ["llmexport"] + sys.argv[1:]
main()
"""


def build(model: ModelSpec, fmt: str, cache_dir: Path, *, timeout_s: float = 3600) -> Path:
    """The ``fmt`` twin of ``model`` (cached): exported by llmexport from the Hugging Face twin."""
    check_format(fmt)
    versions = require()
    hf = hf_twin(model, Path(cache_dir))
    final = Path(cache_dir) / f"mnn-{model.gguf_arch}-{architecture_key(model)}-{fmt}"

    def export(tmp: Path) -> None:
        tok = write_wordpiece_tokenizer(tmp / "tokenizer", hf, model.vocab_size)
        argv = export_argv(hf, tok, tmp / "model", fmt)
        run_tool([sys.executable, "-c", EXPORT_DRIVER, *argv], what=f"llmexport ({fmt})", timeout_s=timeout_s, cwd=tmp)
        out = tmp / "model"
        if not (out / "llm.mnn.weight").is_file():
            raise RunError(f"llmexport ({fmt}) wrote no llm.mnn.weight")
        for p in out.iterdir():
            p.rename(tmp / p.name)
        out.rmdir()
        for stray in (tmp / ".export.log",):
            if stray.exists():
                stray.unlink()
        (tmp / "hf_config.json").write_text((hf / "config.json").read_text())
        (tmp / "export.json").write_text(json.dumps(
            {"exporter": "llmexport", "argv": [a.replace(str(hf), "<hf twin>").replace(str(tmp) + "/", "") for a in argv],
             "versions": versions}, indent=1))

    return atomic_dir(final, export)


# --------------------------------------------------------------------------- reading the files


def graph_json(folder: Path) -> dict[str, Any]:
    """The graph of ``llm.mnn`` as MNN's converter dumps it (llmexport leaves ``llm.mnn.json``,
    its dump of the final model; otherwise dumped here with the same converter)."""
    folder = Path(folder)
    path = folder / "llm.mnn.json"
    if not path.is_file():
        run_tool([sys.executable, "-c", "import sys, _tools; _tools.mnnconvert(sys.argv)", "-f", "MNN", "--modelFile",
                  str(folder / "llm.mnn"), "--JsonFile", str(path)], what="MNNConvert (dump llm.mnn)", timeout_s=600)
    return json.loads(path.read_text())


def _linear_name(op_name: str) -> str:
    """``/layers.3/self_attn/q_proj/Linear`` → ``model.layers.3.self_attn.q_proj``; ``/lm/lm_head/Linear`` → ``lm_head``."""
    parts = [p for p in op_name.split("/") if p and p != "Linear"]
    if parts and parts[-1] == "lm_head":
        return "lm_head"
    return "model." + ".".join(parts)


def _norm_name(op_name: str) -> str:
    """``/blocks.3/input_layernorm/Mul_1_output_0`` → ``model.layers.3.input_layernorm``; the final
    norm (named after its output, ``hidden_states``) → ``model.norm``."""
    parts = [p for p in op_name.split("/") if p]
    if len(parts) >= 2 and parts[0].startswith("blocks."):
        return f"model.layers.{parts[0].split('.', 1)[1]}.{'.'.join(parts[1:-1])}"
    return "model.norm"


def file_layout(folder: Path) -> tuple[list[TensorLayout], dict[str, Any]]:
    """(every span of ``llm.mnn.weight`` and of the embedding file, what the files say about themselves).

    Per Linear: ``.weight`` (the packed values, int4/int8, shape ``[out, in]``), ``.header`` (its
    dims and value map), ``.zero_points`` and ``.scales`` (float32, ``[out, blocks]``: interleaved
    in one alpha span, split in half here), ``.bias`` (float32). Per RMSNorm: ``.weight`` (gamma) and
    ``.bias`` (beta), float32. Bytes come from the ops' ``external`` spans; their sum must equal
    the file's size."""
    folder = Path(folder)
    graph = graph_json(folder)
    llm_config = json.loads((folder / "llm_config.json").read_text())
    out: list[TensorLayout] = []
    kinds: dict[str, int] = {}
    spans: list[tuple[int, int]] = []
    graph_constant_bytes = 0
    for op in graph["oplists"]:
        main = op.get("main") or {}
        ext = main.get("external")
        if op["type"] == "Const":
            graph_constant_bytes += sum(4 * len(main.get(k) or []) for k in ("float32s", "int32s"))
            continue
        if not ext:
            continue
        offset = int(ext[0])
        if op["type"] == "Convolution":
            common, q = main["common"], main.get("quanParameter") or {}
            oc, ic = int(common["outputCount"]), int(common["inputCount"])
            name = _linear_name(op["name"])
            weight_len, alpha_len, bias_len = int(ext[1]), int(ext[2]), int(ext[3])
            if q.get("type") == 3:  # --quant_bit 16: float16 values, no header
                bits, header = 16, 0
                out.append(TensorLayout(name + ".weight", (oc, ic), "float16", weight_len, "llm.mnn.weight"))
            else:
                bits = int(q["aMaxOrBits"])
                data = (oc * ic * bits + 7) // 8
                header = weight_len - data
                if not 0 < header < 512:
                    raise RunError(f"llm.mnn.weight: {name} spans {weight_len} bytes, [{oc}, {ic}] × {bits} bits say otherwise")
                out.append(TensorLayout(name + ".weight", (oc, ic), f"int{bits}", data, "llm.mnn.weight"))
                out.append(TensorLayout(name + ".header", (header,), "header", header, "llm.mnn.weight"))
            blocks = 0
            if alpha_len:
                asym = int(q.get("aMin", 0)) != 0
                n_alpha = alpha_len // 4
                blocks = n_alpha // oc // (2 if asym else 1)
                if asym:
                    out.append(TensorLayout(name + ".zero_points", (oc, blocks), "float32", alpha_len // 2, "llm.mnn.weight"))
                    out.append(TensorLayout(name + ".scales", (oc, blocks), "float32", alpha_len // 2, "llm.mnn.weight"))
                else:
                    out.append(TensorLayout(name + ".scales", (oc, blocks), "float32", alpha_len, "llm.mnn.weight"))
                key = f"int{bits} {'asymmetric' if asym else 'symmetric'} block {ic // blocks if blocks else 0}"
            else:
                key = f"{'float16' if bits == 16 else f'int{bits}'}"
            kinds[key] = kinds.get(key, 0) + 1
            if bias_len:
                out.append(TensorLayout(name + ".bias", (oc,), "float32", bias_len, "llm.mnn.weight"))
            spans.append((offset, weight_len + alpha_len + bias_len))
        elif op["type"] == "LayerNorm":
            name = _norm_name(op["name"])
            gamma, beta = int(ext[1]), int(ext[2])
            out.append(TensorLayout(name + ".weight", (gamma // 4,), "float32", gamma, "llm.mnn.weight"))
            if beta:
                out.append(TensorLayout(name + ".bias", (beta // 4,), "float32", beta, "llm.mnn.weight"))
            spans.append((offset, gamma + beta))
        else:
            raise RunError(f"llm.mnn: a {op['type']} op ({op['name']}) keeps data in llm.mnn.weight; not read here")
    weight_file = (folder / "llm.mnn.weight").stat().st_size
    spans.sort()
    end = 0
    for start, length in spans:
        if start != end:
            raise RunError(f"llm.mnn.weight: a gap or overlap at byte {end} (next span at {start})")
        end = start + length
    if end != weight_file:
        raise RunError(f"llm.mnn.weight: the ops' spans end at {end}, the file holds {weight_file} bytes")
    for emb in sorted(folder.glob("embeddings_*.bin")):
        h = int(llm_config["hidden_size"])
        size = emb.stat().st_size
        dtype = emb.stem.split("_", 1)[1]
        out.append(TensorLayout("model.embed_tokens.weight", (size // (2 * h) if dtype == "bf16" else 0, h), dtype, size, emb.name))
    details = {
        "linear_kinds": [{"kind": k, "count": n} for k, n in sorted(kinds.items())],
        "tie_embeddings": llm_config.get("tie_embeddings"),
        "embedding_files": sorted(p.name for p in folder.glob("embeddings_*.bin")),
        "graph_ops": len(graph["oplists"]), "graph_constant_bytes": graph_constant_bytes,
        "llm_config": {k: v for k, v in llm_config.items() if k != "jinja"},
        "runtime_config": json.loads((folder / "config.json").read_text()),
    }
    return out, details


def tensor_layout(folder: Path) -> list[TensorLayout]:
    """Every span of ``llm.mnn.weight`` and the embedding file (``file_layout``)."""
    return file_layout(folder)[0]


def format_details(folder: Path) -> dict[str, Any]:
    """The exporter's arguments and what the files say about themselves (``file_layout``)."""
    folder = Path(folder)
    export = json.loads((folder / "export.json").read_text())
    args = json.loads((folder / "export_args.json").read_text()) if (folder / "export_args.json").is_file() else {}
    keep = ("quant_bit", "quant_block", "lm_quant_bit", "lm_quant_block", "sym", "embed_bit", "seperate_embed", "hqq",
            "tie_word_embeddings")
    return {"export": export, "export_args": {k: args.get(k) for k in keep}, **file_layout(folder)[1]}


# --------------------------------------------------------------------------- running


# MNN.llm's own counters (the Llm context: load_us, prefill_us, decode_us, prompt_len, gen_seq_len)
# time each part; generate(ids, n) prefills the prompt, samples a token from its logits and decodes
# until n tokens (random weights: the vocabulary's own ids, none of them a stop token here).
CHILD = r"""
import MNN.llm as mllm
from importlib.metadata import version
rss_after_imports = current_rss()
llm = mllm.create(args["config"])
llm.set_config(json.dumps({"sampler_type": "greedy", "thread_num": args["threads"]}))
t = time.perf_counter()
llm.load()
load_s = time.perf_counter() - t
rss_after_load = current_rss()
ctx = llm._c_obj
vocab = args["vocab_size"]
prompt = token_ids(args["prompt_tokens"], vocab, 7919)
def run_once(ids, n):
    llm.reset()
    before = ctx.get_context()  # the time counters add up over a session's generations: take the difference
    t = time.perf_counter()
    out = ctx.generate(ids, n)
    wall = time.perf_counter() - t
    c = ctx.get_context()
    return {"wall_s": wall, "prompt_len": c["prompt_len"], "gen_seq_len": c["gen_seq_len"], "generated": len(out),
            **{k: c[k] - before[k] for k in ("prefill_us", "decode_us", "sample_us")}}
run_once(prompt[:8], 2)  # warm-up
runs = [run_once(prompt, args["output_tokens"]) for _ in range(args["repeats"])]
rss_after_runs = current_rss()
# the KV cache as it grows: the resident memory after a short and after a long generation
short = run_once(prompt[:16], 1)
rss_short = current_rss()
long_ = run_once(prompt[:16], args["kv_probe_tokens"])
rss_long = current_rss()
emit({"load_s": load_s, "runtime_load_s": ctx.get_context()["load_us"] / 1e6,
      # decode_us covers the gen_seq_len - 1 steps after the token sampled from the prefill's logits
      "prefill_tokens_per_s": spread([r["prompt_len"] / (r["prefill_us"] / 1e6) for r in runs]),
      "decode_tokens_per_s": spread([(r["gen_seq_len"] - 1) / (r["decode_us"] / 1e6) for r in runs]),
      "runs": runs, "threads": args["threads"],
      "rss_after_imports_bytes": rss_after_imports, "rss_after_load_bytes": rss_after_load, "rss_after_runs_bytes": rss_after_runs,
      "kv_probe": {"short_tokens": short["prompt_len"] + short["gen_seq_len"], "long_tokens": long_["prompt_len"] + long_["gen_seq_len"],
                   "rss_short_bytes": rss_short, "rss_long_bytes": rss_long},
      "versions": {"MNN": version("MNN")}})
"""


def kv_cache_bytes(cfg: dict[str, Any], tokens: int, itemsize: int) -> int:
    """2 (K and V) × layers × KV heads × head dim × tokens × itemsize."""
    return 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * cfg["head_dim"] * tokens * itemsize


def measure(folder: Path, settings: MeasureSettings | None = None, *, kv_probe_tokens: int = 496) -> dict[str, Any]:
    """Load time, prefill/decode tokens/s (median, min, max, samples: MNN's own counters), peak
    RSS, and the KV cache's growth (resident memory after a 17- and a ``kv_probe_tokens`` + 16-token
    generation, per token of context), from a child process running the twin on MNN's CPU backend
    with the exporter's config (``precision: low``, ``memory: low``) and greedy sampling."""
    import os

    settings = settings or MeasureSettings()
    require()
    folder = Path(folder)
    cfg = json.loads((folder / "hf_config.json").read_text())
    threads = settings.threads or os.cpu_count() or 1
    args = {"config": str(folder / "config.json"), "vocab_size": cfg["vocab_size"], "kv_probe_tokens": kv_probe_tokens,
            **settings.to_json(), "threads": threads}
    out = run_child(CHILD, args, what="MNN run", timeout_s=settings.timeout_s)
    probe = out["kv_probe"]
    grown = probe["long_tokens"] - probe["short_tokens"]
    per_token_elements = kv_cache_bytes(cfg, 1, 1)
    per_token = (probe["rss_long_bytes"] - probe["rss_short_bytes"]) / grown
    probe["rss_bytes_per_token"] = per_token
    probe["rss_bytes_per_kv_element"] = per_token / per_token_elements
    # MNN keeps no KV figure of its own that pymnn exposes: the cache of the measured runs, at the
    # resident memory's growth per token of context (all that grew: cache, reallocation, scratch)
    out["kv_cache_tokens"] = settings.prompt_tokens + settings.output_tokens
    out["kv_cache_bytes"] = round(per_token * out["kv_cache_tokens"])
    out["kv_cache_dtype"] = "unknown: resident memory growth per token"
    return out
