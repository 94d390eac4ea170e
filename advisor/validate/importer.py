"""Turn llama-bench results into recorded runs, each with our prediction for the same test."""

from __future__ import annotations

import re
from pathlib import Path

from advisor.catalog import Catalog, load_catalog, load_device_file, suggest
from advisor.engine.calibrate import is_noisy
from advisor.engine.evaluate import evaluate
from advisor.errors import BadInputError
from advisor.records import DeviceProfile, Workload
from advisor.store import Run, record_runs
from advisor.validate.bench_import import BenchRow, read_llama_bench
from advisor.validate.predicted_vs_measured import predicted_figures


def guess_model(filename: str, catalog: Catalog) -> str | None:
    """'Qwen2.5-0.5B-Instruct-Q4_K_M.gguf' → 'qwen2.5-0.5b-instruct': the longest catalog id the
    file name contains. Never a guess from less: an empty or generic name ("model.gguf", "qwen")
    gives None, and the caller asks for --model."""
    stem = re.sub(r"[-_.](?:i?q\d\w*|f16|bf16|f32)(?:[-_.].*)?\.gguf$", "", Path(filename).name.lower())
    stem = stem.removesuffix(".gguf")
    if not stem:
        return None
    hits = [m for m in catalog.models if m in stem]
    return max(hits, key=len) if hits else None


def workload_for(row: BenchRow) -> Workload:
    if row.test == "pp":
        return Workload(context_tokens=max(512, row.n_prompt + 1), prompt_tokens=row.n_prompt, output_tokens=1,
                        threads=row.n_threads, n_ubatch=row.n_ubatch or 512)
    return Workload(context_tokens=max(512, row.n_prompt + row.n_gen + 1), prompt_tokens=max(1, row.n_prompt),
                    output_tokens=row.n_gen, threads=row.n_threads, n_ubatch=row.n_ubatch or 512)


def import_llama_bench(
    path: str | Path, *, device_id: str | None = None, device_file: str | None = None,
    model_id: str | None = None, quant_id: str | None = None, catalog: Catalog | None = None, db: Path | None = None,
) -> list[int]:
    catalog = catalog or load_catalog()
    if bool(device_id) == bool(device_file):
        raise BadInputError("name the device the measurements were made on with exactly one of --device ID or --device-file FILE")
    device: DeviceProfile = catalog.device(device_id) if device_id else load_device_file(device_file)  # type: ignore[arg-type]
    rows = read_llama_bench(path)
    if model_id is not None:
        catalog.model(model_id)
        files = sorted({r.model_filename for r in rows if r.model_filename and r.test != "pg"})
        if len(files) > 1:
            raise BadInputError(
                f"{path}: the rows measure {len(files)} different model files ({', '.join(Path(f).name for f in files[:3])}); "
                "--model names one: import each model's rows separately"
            )
    pending: list[Run] = []
    for index, row in enumerate(rows, 1):
        if row.test == "pg":
            continue  # mixed prompt+generation tests are not comparable to either rate
        if model_id:
            mid: str | None = model_id
        elif not row.model_filename:
            raise BadInputError(f"{path}: row {index} does not name its model (no model_filename); pass --model ID")
        else:
            mid = guess_model(row.model_filename, catalog)
        if mid is None:
            close = suggest(Path(row.model_filename).stem, catalog.models)
            raise BadInputError(
                f"cannot tell which catalog model '{row.model_filename}' is; pass --model ID"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
            )
        model = catalog.model(mid)
        qid = quant_id or row.ftype
        if qid is None:
            raise BadInputError(f"{path}: row {index}: cannot tell the quantization of '{row.model_type}'; pass --quant (e.g. Q4_K_M)")
        ftype = catalog.file_type(qid)
        workload = workload_for(row)
        est = evaluate(model, ftype, device, workload, catalog)
        metric = "prefill_tokens_per_s" if row.test == "pp" else "decode_tokens_per_s"
        pending.append(Run(
            source="llama-bench", device_id=device.id,
            # repeats that disagree (stddev > NOISY_CV_LIMIT of the mean) are kept but never fitted
            status="noisy" if is_noisy(mean=row.tokens_per_s, stddev=row.stddev_tokens_per_s) else "ok", model_id=model.id, model_name=model.name, quant=ftype.id,
            synthetic=False, gguf_path=row.model_filename or None, backend=row.backends, weight_path=None,
            device_profile=device.model_dump(mode="json", by_alias=True),
            settings={"test": row.test, "n_prompt": row.n_prompt, "n_gen": row.n_gen, "threads": row.n_threads,
                      "n_batch": row.n_batch, "n_ubatch": row.n_ubatch, "type_k": row.type_k, "flash_attn": row.flash_attn,
                      "n_gpu_layers": row.n_gpu_layers, "n_ctx": workload.context_tokens,
                      "prompt_tokens": workload.prompt_tokens, "output_tokens": workload.output_tokens},
            predicted=predicted_figures(est),
            measured={metric: row.tokens_per_s, "stddev_tokens_per_s": row.stddev_tokens_per_s,
                      "model_size_bytes": row.model_size_bytes, "cpu_info": row.cpu_info, "gpu_info": row.gpu_info},
            llama_cpp_version=row.build,
        ))
    if not pending:
        raise BadInputError(f"{path}: no pp or tg tests in this llama-bench output")
    # one transaction: every row is stored, or (an error, Ctrl-C, a kill) none
    return record_runs(pending, db)
