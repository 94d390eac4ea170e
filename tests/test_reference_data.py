"""The shipped catalog and profiles against the reference sheets they were compiled from
(../shared/reference): a model with a models.csv or models-moe-hybrid.csv row has that row's
architecture numbers and parameter count, a quantization its quants.csv geometry and Llama-3-8B
figures, a device profile the RAM, bandwidth and NPU figure of its devices.csv row; and what the
reference marks unverified or approximate stays marked so in the catalog."""

import csv
import re
from pathlib import Path

import pytest

from advisor.engine.tensors import count_params

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
pytestmark = [pytest.mark.skipif(not (REFERENCE / "models.csv").exists(), reason=f"{REFERENCE} not present"),
              pytest.mark.catalog_data]


def _rows(name: str) -> list[dict[str, str]]:
    path = REFERENCE / name
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def lead_number(cell: str) -> float | None:
    """The figure a cell starts with ('49155 (family value; …)' → 49155); None for 'n/a', 'layer-wise',
    '4K base' (a rounded figure) …"""
    m = re.match(r"\s*(\d+(?:\.\d+)?)(?![\w.])", cell)
    return float(m.group(1)) if m else None


def lead_bool(cell: str) -> bool | None:
    word = cell.strip().lower().split(" ")[0] if cell.strip() else ""
    return {"true": True, "false": False}.get(word)


def figures(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell.replace(",", ""))]


# ---------------------------------------------------------------------------------------- models

MODELS_CSV = {row["model_id"]: row for row in _rows("models.csv")}
MOE_CSV = {row["id"]: row for row in _rows("models-moe-hybrid.csv")}
#: catalog id → models-moe-hybrid.csv id where the catalog ships the instruct/chat release of the row
MOE_ALIASES = {"deepseek-v2-lite-chat": "deepseek-v2-lite", "granite-3.1-1b-a400m-instruct": "granite-3.1-1b-a400m",
               "granite-3.1-3b-a800m-instruct": "granite-3.1-3b-a800m", "gemma-3n-e2b-it": "gemma-3n-e2b",
               "gemma-3n-e4b-it": "gemma-3n-e4b"}
DENSE_COLUMNS = {"num_hidden_layers": "n_layers", "hidden_size": "hidden_size", "intermediate_size": "ffn_size",
                 "num_attention_heads": "n_heads", "num_key_value_heads": "n_kv_heads", "head_dim": "head_dim",
                 "vocab_size": "vocab_size", "max_position_embeddings": "max_position_embeddings"}
MOE_COLUMNS = {"n_layers": "n_layers", "hidden_size": "hidden_size", "n_heads": "n_heads", "n_kv_heads": "n_kv_heads",
               "head_dim": "head_dim", "vocab_size": "vocab_size", "max_position_embeddings": "max_position_embeddings",
               "n_experts": "n_experts", "n_experts_per_token": "n_experts_used", "moe_intermediate_size": "expert_ffn_size"}
#: reference cells the catalog holds in llama.cpp's view instead of the HF config's (with the reason)
LLAMA_CPP_VIEW = {("deepseek-v2-lite", "n_kv_heads"): "MLA: llama.cpp keeps one latent KV head (MOE-ARCH-NOTES.md §6)"}
#: config_source words that mean the dims were not re-read from a primary copy
NOT_REREAD = re.compile(r"not (?:directly )?re-verified|from memory", re.I)


def _catalog_moe_pairs(catalog):
    return [(m, MOE_CSV[MOE_ALIASES.get(m.id, m.id)]) for m in catalog.models.values()
            if MOE_ALIASES.get(m.id, m.id) in MOE_CSV]


@pytest.mark.parametrize("model_id", sorted(MODELS_CSV))
def test_model_matches_models_csv(catalog, model_id):
    row, m = MODELS_CSV[model_id], catalog.model(model_id)
    for column, field in DENSE_COLUMNS.items():
        ref = lead_number(row[column])
        if ref is not None:  # OpenELM's layer-wise cells hold a description, not a number
            assert getattr(m, field) == ref, (column, getattr(m, field), row[column])
    assert m.tied_embeddings == lead_bool(row["tie_word_embeddings"])
    assert m.params == count_params(m) == int(row["n_params_computed"])


@pytest.mark.parametrize("model_id", sorted(MODELS_CSV))
def test_model_the_reference_did_not_reread_stays_unverified(catalog, model_id):
    row = MODELS_CSV[model_id]
    if NOT_REREAD.search(row["config_source"]):
        assert not catalog.model(model_id).verified, row["config_source"]


def test_moe_and_hybrid_models_match_their_reference_rows(catalog):
    pairs = _catalog_moe_pairs(catalog)
    assert len(pairs) >= 19  # the rows the catalog ships (19 when written)
    for m, row in pairs:
        columns = dict(MOE_COLUMNS)
        if not m.n_experts or "dense FFN" in row["intermediate_size"]:  # else the cell is the expert width
            columns["intermediate_size"] = "ffn_size"
        for column, field in columns.items():
            ref = lead_number(row[column])
            if ref is None or (row["id"], column) in LLAMA_CPP_VIEW:
                continue
            assert getattr(m, field) == ref, (m.id, column, getattr(m, field), row[column])
        assert m.tied_embeddings == lead_bool(row["tied_embeddings"]), m.id


def test_moe_and_hybrid_parameter_counts_match_the_reference_within_1_percent(catalog):
    """The tensor inventory's count against the row's computed total ('30.5B (computed 30.53B)')."""
    for m, row in _catalog_moe_pairs(catalog):
        found = re.search(r"computed\s+(\d+(?:\.\d+)?)B", row["params_total"]) or re.match(r"\s*(\d+(?:\.\d+)?)B", row["params_total"])
        if found:
            ref = float(found.group(1)) * 1e9
            assert abs(count_params(m) - ref) <= 0.01 * ref, (m.id, count_params(m), row["params_total"])


def test_moe_and_hybrid_rows_marked_unverified_stay_unverified(catalog):
    for m, row in _catalog_moe_pairs(catalog):
        if lead_bool(row["verified"]) is False:
            assert not m.verified, m.id


def test_an_approximate_release_date_is_said_to_be_approximate(catalog):
    """A reference release like '2024-05 (approx)' becomes release_date '2024-05' plus a note."""
    rows = [(m, MODELS_CSV[m.id]["release_date"]) for m in catalog.models.values() if m.id in MODELS_CSV]
    rows += [(m, row["release"]) for m, row in _catalog_moe_pairs(catalog)]
    approx = [(m, release) for m, release in rows if "approx" in release]
    assert approx
    for m, release in approx:
        assert "approximate" in m.notes, (m.id, release)


# ----------------------------------------------------------------------------------- quantizations

QUANTS_CSV = _rows("quants.csv")


@pytest.mark.parametrize("row", QUANTS_CSV, ids=[r["quant_type"] for r in QUANTS_CSV])
def test_quantization_matches_quants_csv(catalog, row):
    ftype = catalog.file_types.get(row["quant_type"])
    if ftype is None:
        assert row["quant_type"] in ("TQ1_0", "TQ2_0")  # ternary (BitNet) types: no catalog model uses them
        return
    assert ftype.base_type == row["ggml_tensor_type"]
    g = catalog.ggml_types[ftype.base_type]
    assert (g.block_size, g.type_size) == (int(row["block_size_weights"]), int(row["bytes_per_block"]))
    assert g.bits_per_weight == float(row["bpw_tensor"])
    for field, column in (("ppl_delta", "ppl_delta_llama3_8b"), ("kld", "kld_llama3_8b"),
                          ("llama3_8b_size_gib", "llama3_8b_size_gib")):
        if getattr(ftype, field) is not None:  # F16/BF16 keep their baseline-noise figures in notes
            assert getattr(ftype, field) == float(row[column]), field
    if row["imatrix_required"].startswith("yes"):
        assert ftype.imatrix == "required"


# ----------------------------------------------------------------------------------------- devices

DEVICES_CSV = {row["device_id"]: row for row in _rows("devices.csv")}
#: profile → the devices.csv row describing that configuration (profiles of configurations the sheet
#: does not list — Raspberry Pi 4 1/2 GB, Pi 5 2 GB, the Core Ultra 7 155H with DDR5 — are left out)
PROFILE_ROWS = {
    "iphone-15-pro": "iphone_15_pro", "iphone-16": "iphone_16", "iphone-16-pro": "iphone_16_pro",
    "pixel-8": "pixel_8", "pixel-9": "pixel_9", "galaxy-s24-ultra": "galaxy_s24_ultra",
    "galaxy-s25-ultra": "galaxy_s25_ultra", "midrange-snapdragon-7-gen-3-8gb": "midrange_sd7gen3",
    "galaxy-a55": "galaxy_a55", "galaxy-a15-5g-4gb": "galaxy_a15_5g",
    "ipad-pro-m4-8gb": "ipad_pro_m4_11", "ipad-pro-m4-16gb": "ipad_pro_m4_11", "ipad-air-m2-8gb": "ipad_air_m2_11",
    "macbook-air-m1-8gb": "macbook_air_m1", "macbook-air-m1-16gb": "macbook_air_m1",
    "macbook-air-m2-8gb": "macbook_air_m2", "macbook-air-m2-16gb": "macbook_air_m2", "macbook-air-m2-24gb": "macbook_air_m2",
    "macbook-air-m3-8gb": "macbook_air_m3_13", "macbook-air-m3-16gb": "macbook_air_m3_13",
    "macbook-air-m3-24gb": "macbook_air_m3_13", "macbook-pro-14-m3-pro-18gb": "macbook_pro_14_m3_pro",
    "macbook-pro-14-m3-pro-36gb": "macbook_pro_14_m3_pro", "macbook-pro-14-m3-max-36gb": "macbook_pro_14_m3_max",
    "macbook-pro-14-m3-max-64gb": "macbook_pro_14_m3_max", "mac-mini-m4-16gb": "mac_mini_m4",
    "mac-mini-m4-24gb": "mac_mini_m4", "mac-mini-m4-32gb": "mac_mini_m4",
    "laptop-core-ultra-7-155h-16gb": "laptop_core_ultra_7_155h", "laptop-core-ultra-7-258v-32gb": "laptop_core_ultra_7_258v",
    "laptop-ryzen-7-7840u-16gb": "laptop_ryzen_7_7840u", "laptop-ryzen-7-7840u-32gb-ddr5": "laptop_ryzen_7_7840u",
    "laptop-ryzen-ai-9-hx370-32gb": "laptop_ryzen_ai_9_hx370",
    "laptop-snapdragon-x-elite-16gb": "laptop_snapdragon_x_elite", "laptop-snapdragon-x-elite-32gb": "laptop_snapdragon_x_elite",
    "desktop-rtx3060-12gb": "desktop_rtx3060_12gb", "desktop-rtx4060-8gb": "desktop_rtx4060_8gb",
    "desktop-rtx4060ti-16gb": "desktop_rtx4060ti_16gb", "desktop-rtx3090-24gb": "desktop_rtx3090_24gb",
    "desktop-rtx4090-24gb": "desktop_rtx4090_24gb", "raspberry-pi-4-4gb": "rpi4_4gb", "raspberry-pi-4-8gb": "rpi4_8gb",
    "raspberry-pi-5-4gb": "rpi5_4gb", "raspberry-pi-5-8gb": "rpi5_8gb", "raspberry-pi-5-16gb": "rpi5_16gb",
    "jetson-nano-4gb": "jetson_nano_4gb", "jetson-orin-nano-8gb": "jetson_orin_nano_8gb",
    "jetson-orin-nano-super-8gb": "jetson_orin_nano_super", "jetson-orin-nx-16gb": "jetson_orin_nx_16gb",
    "jetson-agx-orin-32gb": "jetson_agx_orin_32gb", "jetson-agx-orin-64gb": "jetson_agx_orin_64gb",
    "orange-pi-5-4gb": "orange_pi_5", "orange-pi-5-8gb": "orange_pi_5", "orange-pi-5-16gb": "orange_pi_5",
    "mini-pc-intel-n100-8gb": "mini_pc_intel_n100", "mini-pc-intel-n100-16gb": "mini_pc_intel_n100",
    "intel-nuc-13-pro-i7-32gb": "intel_nuc_13_pro_i7",
}


@pytest.mark.parametrize("profile_id", sorted(PROFILE_ROWS))
def test_device_matches_devices_csv(catalog, profile_id):
    d, row = catalog.device(profile_id), DEVICES_CSV[PROFILE_ROWS[profile_id]]
    discrete = bool(d.gpu and d.gpu.discrete)
    # memory: VRAM for a graphics card (the row's RAM cell is its VRAM), else the device's RAM
    ram_gib = (d.gpu.vram if discrete else d.memory.ram) / 2**30
    if not row["ram_gb"].startswith("up to"):
        assert ram_gib in figures(row["ram_gb"]), row["ram_gb"]
    bandwidth = d.gpu.vram_bandwidth_gbs if discrete else d.memory.bandwidth_gbs
    basis = d.gpu.vram_bandwidth_basis if discrete else d.memory.bandwidth_basis
    if figures(row["peak_mem_bw_gbs"]):
        assert bandwidth in figures(row["peak_mem_bw_gbs"]), row["peak_mem_bw_gbs"]
    if not figures(row["peak_mem_bw_gbs"]) or "estimate" in row["bw_basis"]:
        assert basis == "estimated", row["bw_basis"]  # no published figure, or the sheet's own guess
    if d.npu is not None and d.npu.tops and figures(row["npu_tops"]):  # phones' NPUs: no published TOPS
        assert d.npu.tops == figures(row["npu_tops"])[0], row["npu_tops"]


def test_the_energy_benchmarks_figures_are_the_sheets(catalog):
    """benchmarks/energy_accuracy.py quotes the measured decode and power of its rows: they are the
    reference sheets' figures (T-MAC's '30.8 W' in a note; smolhub's power_w and j_per_token rows)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("energy_accuracy", Path(__file__).resolve().parents[1] / "benchmarks" / "energy_accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (_, agx, *_, tps, watts, jpt, _, _, _), (_, nano, *_, tps2, watts2, jpt2, _, _, _) = mod.ROWS
    tmac = next(r for r in _rows("measurements.csv") if "T-MAC" in r["source"] and r["backend"].startswith("llama.cpp CUDA"))
    assert float(tmac["value"]) == tps and f"{watts:g} W" in tmac["notes"] and jpt == pytest.approx(watts / tps)
    smol = {r["metric"]: float(r["value"]) for r in _rows("runtime-measurements.csv")
            if r["device"].startswith("Jetson Orin Nano Super") and r["model"] == "SmolLM2-135M" and r["runtime"] == "llama.cpp"}
    assert (smol["tg_tok_s"], smol["power_w"], smol["j_per_token"]) == (tps2, watts2, jpt2)
    assert catalog.device(agx).power.typical_w == watts  # the AGX profile's draw is this row's (so it is in-sample)
    assert catalog.device(nano)
