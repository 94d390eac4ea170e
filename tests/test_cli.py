"""CLI: every command, every format, and bad input rows with exact messages and exit codes."""

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from advisor.cli import cli, main


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_recommend_ram_json(capsys):
    code, out, err = run(capsys, "recommend", "--ram", "4GB", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema"] == "edge-model-advisor/recommendation" and data["schema_version"] == 1
    assert data["device"]["ram_bytes"] == 4 * 1024**3
    pick = data["pick"]
    assert pick["fit"] in ("fits", "tight")
    assert pick["memory"]["total_bytes"] <= data["device"]["usable_bytes"]
    assert pick["speed"]["decode_low"] <= pick["speed"]["decode_tokens_per_s"] <= pick["speed"]["decode_high"]
    assert data["candidates"][0]["model"] == pick["model"]
    assert any(r["reason"] == "memory" for r in data["rejected"])


@pytest.mark.parametrize("fmt", ["table", "csv", "md"])
def test_recommend_formats(capsys, fmt):
    code, out, err = run(capsys, "recommend", "--device", "raspberry-pi-5-8gb", "--format", fmt, "--top", "5")
    assert code == 0, err
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert len(rows) == 5 and rows[0]["model"]
    elif fmt == "md":
        assert out.startswith("**Raspberry Pi 5") and "| model |" in out
        # every runtime is considered by default: the summary says which one runs the pick and why
        # (the table has a runtime column only when its rows run on more than one)
        assert "Runtime llama.cpp" in out or "Runtime executorch" in out or "Runtime litert-lm" in out
    else:
        assert "Raspberry Pi 5" in out and "highest-quality" in out


def test_recommend_constraints_change_the_answer(capsys):
    _, out_free, _ = run(capsys, "recommend", "--device", "raspberry-pi-5-8gb", "--format", "json")
    _, out_fast, _ = run(capsys, "recommend", "--device", "raspberry-pi-5-8gb", "--min-tps", "15", "--format", "json")
    free, fast = json.loads(out_free), json.loads(out_fast)
    assert fast["pick"]["speed"]["decode_tokens_per_s"] >= 15
    assert fast["pick"]["model"] != free["pick"]["model"]
    assert any(r["reason"] == "speed" for r in fast["rejected"])


def test_recommend_license_filter(capsys):
    code, out, _ = run(capsys, "recommend", "--ram", "8GB", "--license", "permissive", "--format", "json")
    assert code == 0
    assert {c["license_class"] for c in json.loads(out)["candidates"]} == {"permissive"}


def test_recommend_nothing_fits_exit_code(capsys):
    code, out, err = run(capsys, "recommend", "--ram", "256MB", "--format", "json")
    assert code == 3
    data = json.loads(out)
    assert data["pick"] is None and data["rejected"]


def test_predict_breakdown(capsys):
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-0.5b-instruct", "--quant", "Q4_K_M",
                         "--device", "raspberry-pi-5-8gb", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["schema"] == "edge-model-advisor/prediction" and d["schema_version"] == 1  # as every JSON output
    m = d["memory"]
    assert m["total_bytes"] == m["weights_bytes"] + m["kv_cache_bytes"] + m["compute_buffer_bytes"] + m["overhead_bytes"]
    assert {w["ggml_type"] for w in d["weights_by_type"]} >= {"Q8_0", "Q5_0", "F32"}
    assert d["speed"]["decode_bound"] in ("memory", "compute", "overhead")
    assert d["speed"]["energy_j_per_response"] > 0


@pytest.mark.parametrize("command", [
    ["predict", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb"],
    ["recommend", "--ram", "4GB"],
    ["validate", "--model", "qwen3-0.6b"],
])
def test_a_quantized_kv_cache_without_flash_attention_is_one_error_line(capsys, command):
    """llama.cpp creates no context for a quantized V cache without flash attention."""
    code, out, err = run(capsys, *command, "--kv-cache", "q8_0", "--flash-attn", "off")
    assert (code, out) == (1, "")
    assert err == ("Error: a q8_0 KV cache needs flash attention: llama.cpp refuses a quantized V cache without it; "
                   "turn flash attention on (or auto), or use an f16 KV cache\n")


def test_predict_says_what_the_sliding_window_layers_hold(capsys):
    """Gemma 3 1B at 32k: llama.cpp's windowed cache (22 layers × 1,024 cells + 4 × 32,768) and the
    whole-context one llama-cpp-python's Llama() allocates (26 × 32,768 cells), K+V f16 of 256 values."""
    code, out, err = run(capsys, "predict", "--model", "gemma-3-1b-it", "--quant", "Q8_0", "--device", "raspberry-pi-5-8gb",
                         "--context", "32768", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["memory"]["kv_cache_bytes"] == 2 * 256 * 2 * (22 * 1024 + 4 * 32768)
    assert d["kv_sliding_window"] == {"window": 512, "cells": 1024, "swa_full_bytes": 2 * 256 * 2 * 26 * 32768}
    code, out, err = run(capsys, "predict", "--model", "gemma-3-1b-it", "--quant", "Q8_0", "--device", "raspberry-pi-5-8gb",
                         "--context", "32768", "--format", "csv")
    kv = next(r for r in csv.DictReader(io.StringIO(out)) if r["item"] == "KV cache")
    assert kv["basis"] == ("32,768 tokens, f16; the sliding-window layers hold 1,024 cells (window 512 + one micro-batch), "
                           "llama.cpp's default; with --swa-full, or in llama-cpp-python's Llama() unless swa_full=False, "
                           "they hold the whole context: 832.00 MiB")
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb", "--format", "json")
    assert "kv_sliding_window" not in json.loads(out)


def test_no_repack_slows_cpu_prefill_of_q4_0(capsys):
    """--no-repack (llama.cpp's flag) keeps Q4_0 as stored: on the Pi 5's dotprod cores its
    compute-bound prefill loses the repacked kernels' ×3.2; decode and memory are unchanged."""
    args = ("predict", "--model", "llama-3.2-1b-instruct", "--quant", "Q4_0", "--device", "raspberry-pi-5-8gb", "--format", "json")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    on = json.loads(out)
    code, out, err = run(capsys, *args, "--no-repack")
    assert code == 0, err
    off = json.loads(out)
    assert on["workload"]["cpu_repack"] is True and off["workload"]["cpu_repack"] is False
    assert on["speed"]["prefill_tokens_per_s"] / off["speed"]["prefill_tokens_per_s"] == pytest.approx(3.2, rel=0.02)
    assert on["speed"]["decode_tokens_per_s"] == off["speed"]["decode_tokens_per_s"]
    assert on["memory"]["total_bytes"] == off["memory"]["total_bytes"]
    # the copy of the repacked matrices (16 layers × 60,817,408 weights × 18/32 B), beside the total, not in it
    assert on["memory"]["repacked_bytes"] == 547_356_672 and off["memory"]["repacked_bytes"] == 0
    code, out, err = run(capsys, *args[:-2])
    assert code == 0, err
    assert "repacked copy" in out and "522.00 MiB" in out and "reclaimable" in out
    code, out, err = run(capsys, *args[:-2], "--no-repack")
    assert "repacked copy" not in out


def test_predict_table(capsys):
    code, out, _ = run(capsys, "predict", "--model", "llama-3.2-1b-instruct", "--device", "iphone-16-pro")
    assert code == 0
    for item in ("weights", "KV cache", "decode", "time to first token", "energy"):
        assert item in out


@pytest.mark.parametrize(("device", "prior"), [("mini-pc-intel-n100-8gb", True), ("raspberry-pi-5-8gb", False)])
def test_predict_says_when_prefill_is_the_paths_prior(capsys, device, prior):
    """cpu-x86 has no fitted prefill row (its published ones are BLAS builds, checked only): the
    prefill line says its efficiency is the path's prior (measured on twins: the basis says so);
    cpu-arm's is fitted on the Pi 5's rows."""
    code, out, _ = run(capsys, "predict", "--model", "llama-3.2-1b-instruct", "--quant", "Q4_K_M", "--device", device,
                       "--format", "json")
    assert code == 0
    basis = json.loads(out)["speed"]["basis"]
    assert ("prefill prior" in basis) is prior
    code, out, _ = run(capsys, "predict", "--model", "llama-3.2-1b-instruct", "--quant", "Q4_K_M", "--device", device)
    prefill_line = " ".join(out.split("prefill ", 1)[1].split("time to first token")[0].split())
    assert ("the path's prior" in prefill_line) is prior
    assert ("cpu_prefill_x86.md" in basis) is prior


def test_predict_device_file(capsys, tmp_path):
    from advisor.catalog import data_root

    src = (data_root() / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text()
    f = tmp_path / "mine.toml"
    f.write_text(src.replace('id = "raspberry-pi-5-8gb"', 'id = "mine"').replace("bandwidth_gbs = 17.1", "bandwidth_gbs = 34.2")
                 .replace("bus_width_bits = 32", "bus_width_bits = 64"))  # a board with twice the memory bus
    _, base, _ = run(capsys, "predict", "--model", "qwen3-1.7b", "--device", "raspberry-pi-5-8gb", "--format", "json")
    code, mine, _ = run(capsys, "predict", "--model", "qwen3-1.7b", "--device-file", str(f), "--format", "json")
    assert code == 0
    assert json.loads(mine)["speed"]["decode_tokens_per_s"] > 1.3 * json.loads(base)["speed"]["decode_tokens_per_s"]


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md"])
@pytest.mark.parametrize("command", [["models"], ["quants"], ["devices"], ["devices", "--class", "sbc"], ["quants", "--all"]])
def test_listing_commands(capsys, command, fmt):
    code, out, err = run(capsys, *command, "--format", fmt)
    assert code == 0, err
    assert out.strip()
    if fmt == "json":
        json.loads(out)


def test_devices_for_cheapest_first(capsys):
    code, out, err = run(capsys, "devices-for", "--model", "llama-3.2-3b-instruct", "--min-tps", "10", "--format", "json")
    assert code == 0, err
    devices = json.loads(out)["devices"]
    meeting = [d for d in devices if d["meets"]]
    assert meeting
    prices = [d["device"]["price_usd"] for d in meeting if d["device"]["price_usd"] is not None]
    assert prices == sorted(prices)
    assert all(d["estimate"]["speed"]["decode_tokens_per_s"] >= 10 for d in meeting)
    assert not any(d["meets"] for d in devices[len(meeting):])


@pytest.mark.parametrize("rank_by", ["energy", "speed"])
def test_devices_for_rank_by(capsys, rank_by):
    code, out, _ = run(capsys, "devices-for", "--model", "qwen2.5-1.5b-instruct", "--min-tps", "8", "--rank-by", rank_by,
                       "--fleet", "500", "--format", "json")
    assert code == 0
    data = json.loads(out)
    meeting = [d for d in data["devices"] if d["meets"]]
    if rank_by == "energy":
        values = [d["estimate"]["speed"]["energy_j_per_response"] for d in meeting]
        assert values == sorted(values)
    else:
        values = [d["estimate"]["speed"]["decode_tokens_per_s"] for d in meeting]
        assert values == sorted(values, reverse=True)
    priced = [d for d in meeting if d["device"]["price_usd"]]
    assert all(d["fleet_price_usd"] == d["device"]["price_usd"] * 500 for d in priced)
    cheapest = data["cheapest_per_class"]
    for cls, dev_id in cheapest.items():
        prices = [d["device"]["price_usd"] for d in priced if d["device"]["class"] == cls]
        assert next(d for d in priced if d["device"]["id"] == dev_id)["device"]["price_usd"] == min(prices)


def test_devices_for_what_if_more_ram(capsys):
    code, out, _ = run(capsys, "devices-for", "--model", "llama-3.2-3b-instruct", "--min-tps", "5", "--class", "sbc",
                       "--what-if", "--format", "json")
    assert code == 0
    variants = json.loads(out)["what_if"]
    assert any(v["device"] == "raspberry-pi-5-4gb" and v["variant"] == "raspberry-pi-5-8gb" for v in variants)
    for v in variants:
        assert v["variant_ram_bytes"] > v["ram_bytes"]


def test_devices_for_impossible_exit_code(capsys):
    code, _, _ = run(capsys, "devices-for", "--model", "llama-3.1-8b-instruct", "--min-tps", "100000", "--class", "sbc")
    assert code == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "--ram", "4XB"],
         "Error: --ram '4XB' has an unknown unit 'XB'; use B, KB, MB, GB or TB (binary, JEDEC: 1GB = 1GiB = 1024 MiB)"),
        (["recommend", "--ram", "-4GB"], "Error: --ram '-4GB' is negative; give a positive size like 4GB"),
        (["recommend", "--device", "raspbery-pi-5"], "Error: unknown device 'raspbery-pi-5'; did you mean raspberry-pi-5-16gb, raspberry-pi-5-2gb, raspberry-pi-5-4gb? list them with 'advisor devices'"),
        (["predict", "--model", "qwen2.5-05b", "--ram", "4GB"], "Error: unknown model 'qwen2.5-05b'; did you mean qwen2.5-0.5b-instruct"),
        # a file where an id goes: the options that take one are named (it said 'unknown model')
        (["predict", "--model", "./model.gguf", "--ram", "4GB"], "Error: './model.gguf' is a file name, not a model id: give the "
         "file with --gguf-header ./model.gguf, or add it to your catalog with 'advisor models add ./model.gguf'\n"),
        (["devices-for", "--model", "config.json"], "Error: 'config.json' is a file name, not a model id: give the file with "
         "--model-config config.json, or add it to your catalog with 'advisor models add config.json'\n"),
        (["predict", "--model", "qwen3-0.6b", "--device", "my-laptop.toml"], "Error: 'my-laptop.toml' is a file name, not a "
         "device id: give your own profile with --device-file my-laptop.toml\n"),
        # a Hugging Face repository not in the catalog: suggestions from its name, not its owner's
        (["predict", "--model", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "--ram", "4GB"],
         "Error: unknown model 'Qwen/Qwen2.5-0.5B-Instruct-GGUF'; did you mean qwen2.5-0.5b-instruct"),
        (["predict", "--model", "qwen3-0.6b", "--quant", "Q4_K_X", "--ram", "4GB"], "Error: unknown quantization 'Q4_K_X'; did you mean Q4_K_M, Q4_K_S, IQ4_XS? list them with 'advisor quants'"),
        (["recommend"], "Error: name the device with exactly one of --device ID, --device-file FILE or --ram SIZE"),
        (["recommend", "--ram", "4GB", "--device", "raspberry-pi-5-8gb"], "Error: name the device with exactly one of"),
        (["recommend", "--ram", "4GB", "--context", "-5"], "Error: --context must be positive, got -5"),
        (["recommend", "--ram", "4GB", "--context", "10000000"], "Error: --context 10000000 is larger than the maximum 1,048,576"),
        (["recommend", "--ram", "4GB", "--context", "512", "--prompt-tokens", "1000"], "Error: prompt (1000) + output (256) tokens exceed the context of 512; raise --context or shorten them"),
        (["recommend", "--ram", "4GB", "--min-tps", "fast"], "Error: --min-tps 'fast' is not a number; give e.g. 10"),
        (["recommend", "--ram", "4GB", "--license", "gpl"], "Error: unknown license class 'gpl'; use permissive, restricted, noncommercial, commercial or any"),
        (["recommend", "--ram", "4GB", "--usable", "8GB"], "Error: --usable 8GB is more than --ram 4GB; usable memory is part of RAM"),
        (["recommend", "--device-file", "/nonexistent/dev.toml"], "Error: /nonexistent/dev.toml: file not found; check the path"),
        (["recommend", "--ram", ""], "Error: --ram is empty; give a size such as 4GB"),
        (["devices-for", "--model", "qwen3-0.6b", "--class", ""], "Error: --class is empty; give one of desktop, "),
        # every command that takes --class: an empty one was ignored (recommend, predict, devices) or
        # refused with another message (tiers); an unknown one listed no classes (devices-for)
        (["recommend", "--ram", "4GB", "--class", ""], "Error: --class is empty; give one of desktop, "),
        (["devices", "--class", " "], "Error: --class is empty; give one of desktop, "),
        (["tiers", "--target", "android-app", "--class", ""], "Error: --class is empty; give one of desktop, "),
        (["devices-for", "--model", "qwen3-0.6b", "--class", "phonee"], "Error: unknown device class 'phonee'; use one of desktop, "),
        (["predict", "--model", "qwen3-0.6b", "--device", "pixel-8", "--class", ""], "Error: --class describes a device given by --ram only"),
        (["predict", "--model", "qwen3-0.6b", "--device", " "], "Error: --device is empty; give a device id (see 'advisor devices')"),
        (["recommend", "--device", "raspberry-pi-5-8gb", "--usable", "2GB"],
         "Error: --usable describes a device given by --ram only; a device profile states its own usable memory and class"),
        (["predict", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb", "--usable", "1GB", "--class", "phone"],
         "Error: --usable and --class describe a device given by --ram only;"),
        (["recommend", "--ram", "16GB", "--class", "desktop-gpu"],
         "Error: every desktop-gpu profile has a discrete GPU, whose VRAM a RAM size does not describe: name one with "
         "--device (see 'advisor devices --class desktop-gpu'); with --ram, use one of desktop, jetson, laptop,"),
        (["devices", "--class", "toaster"], "Error: unknown device class 'toaster'; use one of"),
        (["recommend", "--ram", "4GB", "--bogus"], "Error: No such option '--bogus'."),
        (["predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx3060-12gb", "--n-cpu-moe", "49"],
         "Error: --n-cpu-moe 49 is more than the 48 layers of qwen3-30b-a3b; give 0 to 48, all or auto"),
        (["predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx3060-12gb", "--n-cpu-moe", "-1"],
         "Error: --n-cpu-moe must be 0 or more layers (or all, auto), got -1"),
        (["predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx3060-12gb", "--n-cpu-moe", "two"],
         "Error: --n-cpu-moe 'two' is not a number of layers; give e.g. 2, all or auto"),
        (["predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx3060-12gb", "--n-cpu-moe", "99999999999999999999"],
         "Error: --n-cpu-moe 99,999,999,999,999,999,999 is more layers than any model has (at most 100,000); give the model's "
         "layer count, all or auto"),  # it said 'must be 0 or more layers'
        (["predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx3060-12gb", "--n-cpu-moe", "\uff13"],
         "Error: --n-cpu-moe '\uff13' is not a number of layers; give e.g. 2, all or auto"),  # a full-width 3 read as 3
        (["predict", "--model", "qwen3-8b", "--device", "raspberry-pi-5-8gb", "--context", "\uff14\uff10\uff19\uff16"],
         "Error: --context '\uff14\uff10\uff19\uff16' is not a whole number; give e.g. 512, written with the digits 0-9"),
        (["predict", "--model", "qwen3-8b", "--device", "desktop-rtx3060-12gb", "--n-cpu-moe", "2"],
         "Error: --n-cpu-moe applies to mixture-of-experts models; qwen3-8b is dense (leave it at auto)"),
        # where it changes nothing it was echoed as applied (the estimate ignored it)
        (["predict", "--model", "qwen3-30b-a3b", "--device", "raspberry-pi-5-8gb", "--n-cpu-moe", "3"],
         "Error: --n-cpu-moe moves experts from a discrete GPU's VRAM to system RAM; Raspberry Pi 5 (8 GB) has no GPU "
         "llama.cpp uses, so every weight is in one memory (leave it at auto)"),
        (["predict", "--model", "qwen3-30b-a3b", "--device", "mac-mini-m4-16gb", "--n-cpu-moe", "all"],
         "Error: --n-cpu-moe moves experts from a discrete GPU's VRAM to system RAM; Apple Mac mini (M4, 2024), 16 GB has "
         "unified memory, so every weight is in one memory (leave it at auto)"),
        (["predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx3060-12gb", "--n-cpu-moe", "3", "--backend", "cpu"],
         "Error: --n-cpu-moe moves experts off the GPU; with --backend cpu every weight is there already (leave it at auto)"),
    ],
)
def test_bad_input(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1
    assert err.startswith(message), err
    assert "Traceback" not in err


def test_every_command_has_help():
    import click

    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert {"recommend", "predict", "models", "quants", "devices", "devices-for", "report", "profile", "validate",
            "runs", "calibrate"} <= set(names)
    for name in names:
        command = cli.get_command(ctx, name)
        assert command.help and len(command.help) > 20, name
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                assert sub.help and len(sub.help) > 10, (name, sub.name)


def test_every_option_has_help():
    """`runs list --device`, `--model`, `--status` and `--format`, `runs export --format`, `validate
    --format` and `profile --format` had none: --help listed them bare."""
    import click

    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        subs = command.commands.values() if isinstance(command, click.Group) else [command]
        for sub in subs:
            bare = [p.opts[-1] for p in sub.params if isinstance(p, click.Option) and not p.help]
            assert bare == [], (name, sub.name)


def test_every_license_option_names_every_class_it_takes():
    """'models --license' said four classes; 'any', which it takes and its error names, was missing."""
    import click

    ctx = click.Context(cli)
    helps = {name: opt.help for name in cli.list_commands(ctx) for opt in cli.get_command(ctx, name).params
             if isinstance(opt, click.Option) and "--license" in opt.opts}
    assert {"models", "recommend", "tiers"} <= set(helps)
    for name, text in helps.items():
        assert all(word in text for word in ("permissive", "restricted", "noncommercial", "commercial", "any")), (name, text)


def test_console_script_and_module_entry_points():
    for argv in ([sys.executable, "-m", "advisor", "recommend", "--ram", "4XB"],):
        proc = subprocess.run(argv, capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.startswith("Error: --ram '4XB' has an unknown unit")
        assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "advisor", "recommend", "--ram", "4GB", "--format", "json", "--top", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["pick"]


def test_ram_only_speeds_lie_inside_the_range_of_the_catalogs_devices_with_that_ram(capsys, catalog):
    """`--ram 4GB` takes its speed from the real 4 GB profiles, never faster than the slowest one."""
    from advisor.engine.evaluate import factors_for
    from advisor.engine.evaluate import estimate_speed
    from advisor.records import Workload

    code, out, _ = run(capsys, "recommend", "--ram", "4GB", "--runtime", "llama.cpp", "--format", "json", "--top", "50")
    assert code == 0
    data = json.loads(out)
    from advisor.api import ram_peer_templates

    # the catalog's 4 GB devices whose speed path has measured runs (a RISC-V board's is a prior only)
    four = [d for d in ram_peer_templates(catalog) if d.memory.ram == 4 * 1024**3 and not (d.gpu and d.gpu.discrete)]
    assert sorted(data["device"]["stands_for"]) == sorted(d.id for d in four) and len(four) >= 3
    w = Workload(4096, 512, 256)
    for c in data["candidates"]:
        m, q = catalog.model(c["model"]), catalog.file_type(c["quant"])
        on_each = [estimate_speed(m, q, catalog.ggml_types, d, w, factors_for(d, catalog)).decode_tokens_per_s for d in four]
        assert min(on_each) * 0.999 <= c["speed"]["decode_tokens_per_s"] <= max(on_each) * 1.001
        assert c["speed"]["decode_tokens_per_s"] < sorted(on_each)[len(on_each) // 2]  # the slow end, not the median
    peers = data["pick_decode_on_ram_peers"]
    assert peers[0]["used"] and peers[0]["decode_tokens_per_s"] == pytest.approx(data["pick"]["speed"]["decode_tokens_per_s"], rel=2e-3)
    assert peers[0]["decode_tokens_per_s"] <= min(p["decode_tokens_per_s"] for p in peers)


def test_a_ram_only_device_is_promised_the_slowest_peer_for_every_file_and_runtime(capsys):
    """The template is the slowest peer over llama.cpp's reference files; on another runtime's file a
    peer can be slower (a Jetson Nano's A57 cores on an ExecuTorch int8 file): the pick's speed is
    that peer's, and the sentence names it. Before, --ram 4GB promised 5.4 tok/s where the Nano
    delivers 4.3."""
    for args in (("--ram", "4GB"), ("--ram", "4GB", "--runtime", "executorch"), ("--ram", "8GB"), ("--ram", "2GB")):
        code, out, _ = run(capsys, "recommend", *args, "--format", "json", "--top", "1")
        assert code == 0
        data = json.loads(out)
        peers = data["pick_decode_on_ram_peers"]
        assert peers[0]["used"] and data["pick"]["speed"]["decode_tokens_per_s"] == pytest.approx(peers[0]["decode_tokens_per_s"], rel=2e-3)
        assert all(peers[0]["decode_tokens_per_s"] <= p["decode_tokens_per_s"] for p in peers)
        code, text, _ = run(capsys, "recommend", *args, "--top", "1")
        assert f"Speed figures are those of {peers[0]['name']}, the slowest for this file of {len(peers)} catalog devices" in " ".join(text.split())
    code, out, _ = run(capsys, "recommend", "--ram", "4GB", "--runtime", "executorch", "--format", "json", "--top", "1")
    assert json.loads(out)["pick_decode_on_ram_peers"][0]["device"] == "jetson-nano-4gb"  # not the template, the Pi 4


@pytest.mark.parametrize("args, expected", [
    # the 155H laptop is the template (llama.cpp on its CPU); the M1 ran the candidate on its CPU too, not on Metal as
    # llama.cpp does there: 7.5 tok/s and a 45 s first token, where each laptop runs it at >= 9.5 and in ~4 s
    (("--ram", "16GB", "--class", "laptop", "--model", "minicpm4.1-8b", "--quant", "Q5_K_M"), None),
    # MLC on an Android template (OpenCL) skipped the iPhones, where MLC runs on Metal (141 against 187 tok/s)
    (("--ram", "8GB", "--class", "phone", "--model", "smollm2-135m-instruct", "--runtime", "mlc", "--quant", "q3f16_1"),
     "iphone-15-pro"),
])
def test_a_ram_only_device_s_peers_run_a_file_as_their_owners_do(capsys, catalog, args, expected):
    """Each peer of a RAM-only device runs the candidate's runtime and format on its own default backend (unless
    --backend pins one), and the pick's speed is the slowest of those — the device predict gives for that peer."""
    code, out, err = run(capsys, "recommend", *args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    pick, peers = data["pick"], data["pick_decode_on_ram_peers"]
    runtime = pick["runtime"]
    on_each = {}
    for peer in data["device"]["stands_for"]:
        code, out, _ = run(capsys, "predict", "--model", pick["model"], "--quant", pick["quant"], "--runtime", runtime,
                           "--device", peer, "--format", "json")
        if code == 0 and (e := json.loads(out))["speed"]:
            on_each[peer] = e["speed"]["decode_tokens_per_s"]
    slowest = min(on_each, key=on_each.get)
    assert pick["speed"]["decode_tokens_per_s"] == pytest.approx(on_each[slowest], rel=1e-3)
    assert {p["device"]: p["decode_tokens_per_s"] for p in peers} == pytest.approx(on_each, rel=1e-3)
    assert peers[0] == {**peers[0], "device": slowest, "used": True}
    if expected:
        assert slowest == expected
    # a pinned backend is every peer's: the M1 on its CPU
    if "laptop" in args:
        code, out, _ = run(capsys, "recommend", *args, "--backend", "cpu", "--format", "json")
        pinned = json.loads(out)
        assert pinned["pick"]["speed"]["decode_tokens_per_s"] < pick["speed"]["decode_tokens_per_s"]
        assert pinned["pick_decode_on_ram_peers"][0]["device"] == "macbook-air-m1-16gb"


def test_a_ram_size_of_a_class_takes_the_tightest_usable_share_of_its_devices(capsys, catalog):
    """With --class, a RAM-only device may use the smallest share of RAM among that class's devices
    of that size, as its speed is the slowest's: `--ram 8GB --class phone` had 75 % (6 GiB) and picked
    Qwen3-4B Q8_0 (4.94 GiB), which fits neither the Android phone whose speed it quoted (4 GiB) nor an
    iPhone (3.0 × 10^9 B). Now its pick fits every phone it stands for; without --class, 75 % stays."""
    from advisor.engine.evaluate import evaluate
    from advisor.records import Workload

    code, out, _ = run(capsys, "recommend", "--ram", "8GB", "--class", "phone", "--format", "json", "--top", "1")
    assert code == 0
    data = json.loads(out)
    assert data["device"]["usable_bytes"] == int(8 * 1024**3 * (3.0e9 / (8 * 1024**3)))  # the iPhones' iOS app limit
    pick = data["pick"]
    for peer in data["device"]["stands_for"]:
        d = catalog.device(peer)
        e = evaluate(catalog.model(pick["model"]), catalog.file_type(pick["quant"]), d, Workload(4096, 512, 256), catalog)
        assert e.memory.total_bytes <= d.memory.usable, peer
    code, text, _ = run(capsys, "recommend", "--ram", "8GB", "--class", "phone", "--top", "1")
    assert "Usable memory: 35% of RAM, the least of the 6 phone devices with 8 GiB RAM: Apple iPhone 15 Pro's" in text
    code, out, _ = run(capsys, "recommend", "--ram", "8GB", "--format", "json", "--top", "1")
    assert json.loads(out)["device"]["usable_bytes"] == 6 * 1024**3


@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "--ram", "1"], "Error: --ram '1' has no unit, so it means 1 byte; no device has less than 64 MiB: did you mean 1GB?"),
        (["recommend", "--ram", "0.4"], "Error: --ram '0.4' has no unit, so it means 0.4 bytes; no device has less than 64 MiB: did you mean 0.4GB?"),
        (["recommend", "--ram", "1e-9GB"], "Error: --ram '1e-9GB' is 1 B; no device has less than 64 MiB: give a size like 4GB"),
        (["recommend", "--ram", "4GB", "--usable", "1"], "Error: --usable '1' has no unit, so it means 1 byte; no device has less than 64 MiB: did you mean 1GB?"),
        (["devices", "--min-ram", "8"], "Error: --min-ram '8' has no unit, so it means 8 bytes; no device has less than 64 MiB: did you mean 8GB?"),
        # was taken as 4 bytes: nothing fits, exit 3
        (["recommend", "--ram", "4GB", "--max-download", "4"],
         "Error: --max-download '4' has no unit, so it means 4 bytes; no model file is smaller than 1 MiB: did you mean 4GB?"),
        (["recommend", "--ram", "4GB", "--target-tps", "nan"], "Error: --target-tps 'nan' is not a finite number; give e.g. 10"),
        (["recommend", "--ram", "4GB", "--target-tps", "-1"], "Error: --target-tps -1 is out of range; give a number from 0 to 1e+06"),
        (["recommend", "--ram", "4GB", "--quality-floor", "101"], "Error: --quality-floor 101 is out of range; give a number from 0 to 100"),
        (["recommend", "--ram", "4GB", "--quality-floor", "nan"], "Error: --quality-floor 'nan' is not a finite number; give e.g. 10"),
        # a number past float's range is out of range, not "not a finite number" (it is a number)
        (["recommend", "--ram", "4GB", "--target-tps", "1e400"], "Error: --target-tps '1e400' is out of range; give a number from 0 to 1e+06"),
        (["recommend", "--ram", "4GB", "--quality-floor", "-1e309"], "Error: --quality-floor '-1e309' is out of range; give a number from 0 to 100"),
        (["recommend", "--ram", "4GB", "--min-tps", "inf"], "Error: --min-tps must be a positive number, got 'inf'"),
        (["recommend", "--ram", "4GB", "--max-ttft", "inf"], "Error: --max-ttft 'inf' is not a duration; write it like 2, 2s or 500ms"),
        (["devices", "--max-price", "nan"], "Error: --max-price must be a positive number, got 'nan'"),
        (["report", "--model", "qwen3-0.6b", "--quality-floor", "101"], "Error: --quality-floor 101 is out of range; give a number from 0 to 100"),
        (["report", "--model", "qwen3-0.6b", "--budget", "inf"], "Error: --budget must be a positive number, got 'inf'"),
        (["validate", "--model", "qwen3-0.6b", "--timeout", "nan"], "Error: --timeout 'nan' is not a finite number; give e.g. 10"),
        (["profile", "--seconds", "nan"], "Error: --seconds 'nan' is not a finite number; give e.g. 10"),
        # a whole number past int()'s 4,300 digits: too large (not "not a whole number"), and not echoed whole
        (["recommend", "--ram", "4GB", "--top", "9" * 5000], "Error: --top '" + "9" * 35 + "…' (5,000 characters) is larger than the maximum 10,000"),
    ],
)
def test_numbers_and_sizes_are_one_error_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert (code, err, out) == (1, message + "\n", "")


def _strict_json(text):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "args",
    [["recommend", "--ram", "4GB", "--target-tps", "0", "--format", "json"],
     ["recommend", "--ram", "256MB", "--format", "json"],
     ["predict", "--model", "smollm2-135m-instruct", "--ram", "64MB", "--format", "json"],
     ["devices-for", "--model", "qwen3-8b", "--min-tps", "1e6", "--format", "json"]],
)
def test_json_never_carries_infinity_or_nan(capsys, args):
    code, out, err = run(capsys, *args)
    assert code in (0, 3), err
    _strict_json(out)


def test_finite_or_null():
    from advisor.output import dumps_json

    assert _strict_json(dumps_json({"a": float("inf"), "b": [float("nan"), 1.5], "c": {"d": -float("inf")}})) == {
        "a": None, "b": [None, 1.5], "c": {"d": None}}


@pytest.mark.parametrize("command", [["models"], ["devices"], ["recommend", "--ram", "4GB"], ["quants", "--all"]])
def test_a_closed_pipe_ends_quietly(command):
    """`advisor models | head -1`: exit 0, nothing on stderr (no traceback, no 'Exception ignored')."""
    proc = subprocess.Popen([sys.executable, "-m", "advisor", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert (proc.wait(), err) == (0, "")


@pytest.mark.parametrize("read", ["nothing", "a line", "all"])
@pytest.mark.parametrize("command, error", [
    (["recommend", "--ram", "4GB", "--min-tps", "100000"],
     "Error: no model fits Generic device with 4.0 GiB RAM with these constraints; the closest misses are listed above\n"),
    (["devices-for", "--model", "qwen3-8b", "--min-tps", "100000"],
     "Error: no device runs qwen3-8b with these requirements; the reasons are listed above\n"),
    (["tiers", "--class", "phone", "--target", "android-app", "--min-tps", "100000"],
     "Error: no RAM tier has a model that fits all its devices under android-app with these constraints; the reasons are "
     "listed above\n"),
    (["report", "--model", "qwen3-8b", "--device", "raspberry-pi-5-8gb", "--min-tps", "10000", "--format", "md"],
     "Error: no candidate device meets the requirement; the report says why (it was still written)\n"),
])
def test_nothing_fits_exits_3_whenever_the_reader_closes_the_pipe(command, error, read, tmp_path):
    """`recommend … | head -1` with nothing fitting exited 0 when head closed the pipe before the last line was
    written and 3 when after: the exit code depended on the reader's timing."""
    proc = subprocess.Popen([sys.executable, "-m", "advisor", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "ADVISOR_HOME": str(tmp_path), "COLUMNS": "100"})
    if read == "all":
        proc.stdout.read()
    elif read == "a line":
        proc.stdout.readline()
    proc.stdout.close()  # "nothing": closed before the command writes its first line (the cut the test is for)
    assert (proc.wait(), proc.stderr.read().decode()) == (3, error)


@pytest.mark.parametrize("command", [["models"], ["predict", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb",
                                                 "--format", "json"], ["runs", "list"]])
def test_a_closed_stdout_ends_quietly(command, tmp_path):
    """`advisor models >&-`: Python gives stdout as None; it ended in an AttributeError traceback."""
    proc = subprocess.run([sys.executable, "-m", "advisor", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "ADVISOR_HOME": str(tmp_path)},
                          preexec_fn=lambda: os.close(1))  # noqa: PLW1509 — the child alone closes its stdout
    assert (proc.returncode, proc.stderr) == (0, "")


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
@pytest.mark.parametrize("command", [["devices"], ["predict", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb",
                                                   "--format", "csv"], ["recommend", "--ram", "4GB", "--format", "md"]])
def test_an_encoding_without_the_answer_s_characters_escapes_them(command, encoding, tmp_path):
    """Output redirected on Windows is cp1252: a Σ or ≈ ended in a UnicodeEncodeError traceback."""
    proc = subprocess.run([sys.executable, "-m", "advisor", *command], capture_output=True,
                          env={**os.environ, "ADVISOR_HOME": str(tmp_path), "PYTHONIOENCODING": encoding})
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode(encoding)
    out = proc.stdout.decode(encoding)
    assert "Traceback" not in out and out.strip()
    if command == ["devices"]:
        assert "\n---" in out and "\\u2500" not in out  # the table's rule in the characters there are


@pytest.mark.parametrize("command", [["models"], ["devices", "--format", "json"], ["recommend", "--ram", "4GB", "--format", "csv"]])
def test_a_full_disk_is_one_error_line(command):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "advisor", *command], stdout=full, stderr=subprocess.PIPE, text=True)
    assert (proc.returncode, proc.stderr) == (
        1, "Error: cannot write the output (No space left on device); free some space or write somewhere else\n")


@pytest.mark.parametrize(
    "args",
    [["recommend", "--ram", "4GB", "--top", "50"], ["devices"], ["models"], ["quants", "--all"],
     ["devices-for", "--model", "qwen3-1.7b", "--min-tps", "5", "--fleet", "100", "--top", "63"],
     ["devices-for", "--model", "llama-3.2-3b-instruct", "--min-tps", "10", "--what-if", "--top", "5"],  # + its lines
     ["predict", "--model", "qwen3-1.7b", "--device", "raspberry-pi-5-8gb"],
     ["predict", "--model", "qwen3-4b", "--ram", "8GB", "--class", "phone", "--target", "android-app"]],  # + the target's line
)
@pytest.mark.parametrize("columns", [100, 60])
def test_tables_fit_the_terminal_and_never_split_an_id(capsys, monkeypatch, catalog, args, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run(capsys, *args)
    assert code == 0, err
    table = out if args[0] != "recommend" else out.split("candidates\n", 1)[1].split("Rejected")[0]
    assert max(len(line) for line in table.splitlines()) <= columns
    tokens = set(out.split())
    if args[0] == "devices":
        assert set(catalog.devices) <= tokens
    if args[0] == "models":
        assert set(catalog.models) <= tokens
    if args[0] in ("devices-for",):
        assert {t for t in tokens if t.startswith("$")} and all(t.rstrip(",;)").count("$") == 1 for t in tokens if "$" in t)


@pytest.mark.parametrize("args", [["--ram", "8GB", "--class", "phone", "--target", "android-app"],
                                  ["--device", "raspberry-pi-5-8gb", "--min-tps", "8"]])
def test_recommend_sentences_wrap_at_the_terminal_width(capsys, monkeypatch, args):
    """The header, the target's budget, the explanation, the peers, the alternatives and the
    rejected candidates wrap as the table does (the explanation was one line of ~900 characters)."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "recommend", "--top", "3", *args)
    assert code == 0, err
    assert [line for line in out.splitlines() if len(line) > 80 and " " in line.strip()] == []
    assert "highest-quality model" in out and "  Alternative (" in out and "Rejected (closest misses):" in out
    monkeypatch.delenv("COLUMNS")  # piped: each sentence whole on its line, for grep
    _, piped, _ = run(capsys, "recommend", "--top", "3", *args)
    explanation = json.loads(run(capsys, "recommend", "--top", "3", "--format", "json", *args)[1])["explanation"]
    assert explanation in piped.splitlines() and explanation not in out.splitlines()


def test_a_wide_terminal_shows_every_column(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "recommend", "--ram", "4GB")
    assert code == 0 and "prefill" in out and "license" in out and "left out" not in out
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run(capsys, "recommend", "--ram", "4GB", "--runtime", "llama.cpp")
    assert "(left out at 100 columns: prefill tok/s" in out
    code, out, _ = run(capsys, "recommend", "--ram", "4GB")  # the runtime column too: one row per candidate, stacked
    assert "left out" not in out and out.count("prefill tok/s: ") == 10 and out.count("quant: ") == 10


def test_recommend_says_how_many_more(capsys):
    code, out, _ = run(capsys, "recommend", "--ram", "4GB", "--top", "3")
    assert code == 0
    data = json.loads(run(capsys, "recommend", "--ram", "4GB", "--format", "json", "--top", "100")[1])
    assert f"  … and {len(data['candidates']) - 3} more candidates (--top {len(data['candidates'])} lists them all)" in out


def test_ram_only_device_with_every_runtime_names_its_peers(capsys):
    """`--ram` with `--runtime all`: the pick may be another runtime's format; the peers' speeds
    are computed for that runtime (a device that cannot run it is left out of the range)."""
    code, out, err = run(capsys, "recommend", "--ram", "4GB", "--runtime", "all", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    pick = data["candidates"][0]
    peers = data.get("pick_decode_on_ram_peers") or []
    if pick["runtime"] != "llama.cpp" and peers:
        assert peers[0]["used"] and peers[0]["decode_tokens_per_s"] == pytest.approx(pick["speed"]["decode_tokens_per_s"], rel=2e-3)


def test_vulkan_on_an_nvidia_gpu_is_another_runtime_s_not_llama_cpp_s_cuda(capsys):
    code, out, err = run(capsys, "recommend", "--device", "desktop-rtx4060-8gb", "--backend", "vulkan", "--format", "json")
    assert code in (0, 3), err
    got = {(c["runtime"], c["backend"]) for c in json.loads(out)["candidates"]}
    assert got and all(backend == "vulkan" and runtime != "llama.cpp" for runtime, backend in got), got


@pytest.mark.parametrize(
    "args, message",
    [
        # a model the runtime has no converter for: the runtimes that can load it
        (["predict", "--model", "granite-4.0-h-micro", "--quant", "q4f16_1", "--runtime", "mlc", "--device", "pixel-9"],
         "Error: mlc cannot load granite-4.0-h-micro: its converter has no code for the granitehybrid architecture; "
         "runtimes that can: llama.cpp, wllama, mlx"),
        # a format the runtime lacks: its formats
        (["predict", "--model", "qwen3-1.7b", "--quant", "Q4_K_M", "--runtime", "mlx", "--device", "macbook-air-m2-8gb"],
         "Error: mlx has no format 'Q4_K_M'; its formats: "),
        # a runtime the device cannot run
        (["predict", "--model", "qwen3-1.7b", "--quant", "4bit", "--runtime", "mlx", "--device", "pixel-9"],
         "Error: mlx does not run on Google Pixel 9"),
        # a browser on a target without one (it was ignored: the answer was the server's)
        (["predict", "--model", "qwen3-0.6b", "--device", "pixel-8", "--target", "server", "--browser", "chrome-android"],
         "Error: --browser applies to the browser target, not server; drop it or use --target browser"),
        # llama.cpp's Vulkan build on an NVIDIA GPU was answered with the CUDA estimate, labelled cuda
        (["predict", "--model", "qwen3-0.6b", "--device", "desktop-rtx4060-8gb", "--backend", "vulkan"],
         "Error: llama.cpp's vulkan backend on Desktop with NVIDIA GeForce RTX 4060 8GB is not modelled: the engine predicts "
         "llama.cpp there through cuda; drop --backend or use cuda (or cpu)"),
        (["recommend", "--device", "desktop-rtx4060-8gb", "--backend", "vulkan", "--runtime", "llama.cpp"],
         "Error: llama.cpp's vulkan backend on Desktop with NVIDIA GeForce RTX 4060 8GB is not modelled"),
        # 'all' beside names was silently every runtime
        (["recommend", "--ram", "4GB", "--runtime", "all", "--runtime", "mlx"],
         "Error: --runtime all already means every runtime; give it alone or only the names (mlx)"),
        (["devices-for", "--model", "qwen3-1.7b", "--runtime", "mlc,all"],
         "Error: --runtime all already means every runtime; give it alone or only the names (mlc)"),
    ],
)
def test_runtime_bad_input_is_one_line_naming_the_valid_choices(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and out == ""
    assert err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_runtime_why_speed_means_faster_and_a_tie_is_called_one(capsys):
    """"decodes faster" only where the pick is faster; two runtimes predicted alike on fit, speed
    target, quality and speed (ExecuTorch's and LiteRT-LM's int4 files of one model on a CPU) are a
    tie, worded as one, not "decodes faster (5.4 vs 5.4 tok/s)"."""
    seen = set()
    for args in (("--ram", "4GB"), ("--device", "raspberry-pi-4-4gb"), ("--device", "pixel-9"), ("--device", "raspberry-pi-5-8gb"),
                 ("--device", "macbook-air-m2-16gb")):
        code, out, _ = run(capsys, "recommend", *args, "--format", "json", "--top", "1")
        assert code == 0
        data = json.loads(out)
        choice = data["runtime_choice"]
        if not choice or choice["why"] not in ("speed", "tie"):
            continue
        seen.add(choice["why"])
        pick, runner = choice["options"][0]["estimate"], next(o["estimate"] for o in choice["options"][1:] if o["estimate"])
        mine, theirs = pick["speed"]["decode_tokens_per_s"], runner["speed"]["decode_tokens_per_s"]
        if choice["why"] == "speed":
            assert mine > theirs and "it decodes faster" in data["explanation"]
        else:
            assert mine == theirs and pick["fit"] == runner["fit"]
            assert "predicted alike (a tie)" in data["explanation"] and "decodes faster" not in data["explanation"]
    assert "tie" in seen


def test_recommend_says_why_its_runtime(capsys):
    """Every runtime is weighed by default; the explanation names the runner-up runtime for the
    same model and why the pick beats it, and JSON carries the comparison."""
    code, out, _ = run(capsys, "recommend", "--device", "macbook-air-m2-16gb", "--format", "json")
    assert code == 0
    data = json.loads(out)
    choice = data["runtime_choice"]
    options = choice["options"]
    assert options[0]["runtime"] == data["pick"]["runtime"] and len(options) >= 3
    assert choice["why"] in ("fit", "target", "quality", "speed", "tie", "only")
    assert all(o["estimate"]["model"] == data["pick"]["model"] for o in options if o["estimate"])
    runner = next(o for o in options[1:] if o["estimate"])
    assert f"over {runner['runtime']} ({runner['estimate']['quant']}, " in data["explanation"]
    # llama.cpp alone: no comparison
    code, out, _ = run(capsys, "recommend", "--device", "macbook-air-m2-16gb", "--runtime", "llama.cpp", "--format", "json")
    assert json.loads(out)["runtime_choice"] is None and " over " not in json.loads(out)["explanation"]
    # a model only llama.cpp loads among the runtimes there: said so, with the others' reason
    code, out, _ = run(capsys, "recommend", "--device", "raspberry-pi-5-8gb", "--model", "lfm2-8b-a1b", "--format", "json")
    data = json.loads(out)
    assert data["runtime_choice"]["why"] == "only"
    assert "Runtime llama.cpp: the only one considered that runs it here; " in data["explanation"]
    assert "litert-lm (cannot load its lfm2moe architecture)" in data["explanation"]
    litert = next(o for o in data["runtime_choice"]["options"] if o["runtime"] == "litert-lm")
    assert litert["estimate"] is None and litert["reason_figures"]["kind"] == "architecture"
    assert "(runtimes that do: llama.cpp, wllama, mlx" in litert["reason"]  # the JSON reason names who can


@pytest.mark.parametrize("flag, n_cpu_moe", [([], 1), (["--n-cpu-moe", "2"], 2), (["--n-cpu-moe", "all"], 24), (["--n-cpu-moe", "0"], 0),
                                             (["--n-cpu-moe", "2", "--runtime", "ggml"], 2)])  # an alias of llama.cpp
def test_predict_expert_offload_json(capsys, flag, n_cpu_moe):
    """gpt-oss-20b MXFP4_MOE (12.7 GB with its buffers) on a 12 GB card: auto keeps the experts of
    one layer in host RAM; 0 falls back to llama.cpp's layer split (-ngl)."""
    code, out, err = run(capsys, "predict", "--model", "gpt-oss-20b", "--quant", "MXFP4_MOE", "--device",
                         "desktop-rtx3060-12gb", "--format", "json", *flag)
    assert code == 0, err
    data = json.loads(out)
    m = data["memory"]
    assert data["fit"] == "offload"
    assert m["n_cpu_moe"] == n_cpu_moe
    assert data["workload"]["n_cpu_moe"] == ("auto" if not flag else n_cpu_moe)
    if n_cpu_moe:
        assert m["gpu_bytes"] + m["cpu_moe_bytes"] == m["total_bytes"]
        assert data["speed"]["gpu_layers"] == 24
        assert any(n.startswith(f"--n-cpu-moe {n_cpu_moe}: the experts of") for n in data["notes"])
    else:
        assert m["cpu_moe_bytes"] == 0 and data["speed"]["gpu_layers"] < 24


def test_threads_beyond_the_cpus_are_estimated_with_the_cpus_threads_and_said(capsys):
    """--threads 1000 on a 4-thread Pi once decoded at 6.0 tok/s (n ** -0.2 of 1000 threads) where 4
    give 10.5: more threads than the CPU has add no core. The estimate is the hardware's, noted."""
    def decode(threads):
        code, out, err = run(capsys, "predict", "--model", "qwen2.5-1.5b-instruct", "--device", "raspberry-pi-5-8gb",
                             "--threads", str(threads), "--format", "json")
        assert code == 0, err
        d = json.loads(out)
        return d["speed"]["decode_tokens_per_s"], d["speed"]["threads"], d["notes"]

    four, eight, many = decode(4), decode(8), decode(1000)
    assert four[:2] == eight[:2] == many[:2] == (four[0], 4) and four[2] == []
    assert many[2] == ["1,000 threads asked for; estimated with the CPU's 4 (more threads than it has only slow llama.cpp down)"]


def test_predict_says_when_a_fit_is_in_memory_only(capsys):
    """recommend and devices-for reject a context beyond the model's; predict estimates it, and its
    fit row says the fit is memory's only."""
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-0.5b-instruct", "--device", "raspberry-pi-5-8gb",
                         "--context", "65536", "--format", "csv")
    assert code == 0, err
    fit = next(r for r in csv.DictReader(io.StringIO(out)) if r["item"] == "fit")
    assert fit["value"] == "fits" and fit["basis"].endswith(
        "in memory only: the context is beyond the model's native 32,768 tokens, which recommend and devices-for reject")
    code, _, _ = run(capsys, "recommend", "--model", "qwen2.5-0.5b-instruct", "--device", "raspberry-pi-5-8gb",
                     "--context", "65536", "--runtime", "llama.cpp")
    assert code == 3


@pytest.mark.parametrize("args, kind", [
    # a WebGPU binding no RAM lifts (Chrome on Android: 128 MiB; Gemma 3 1B's embedding is 162 MiB)
    (("--model", "gemma-3-1b-it", "--runtime", "mlc", "--quant", "q4f16_1", "--device", "pixel-8", "--target", "browser",
      "--browser", "chrome-android"), "limit"),
    # --max-download, documented on predict, rules out an 8 GiB file
    (("--model", "qwen3-8b", "--quant", "Q8_0", "--device", "ipad-pro-m4-16gb", "--target", "ios-app", "--entitlement",
      "increased-memory", "--max-download", "1GB"), "download"),
])
def test_predict_gives_the_verdict_recommend_and_devices_for_give(capsys, args, kind):
    """A candidate whose memory fits but that a per-buffer limit or the download cap rules out is
    not 'fits' in predict while recommend and devices-for refuse it."""
    code, out, _ = run(capsys, "predict", *args, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["fit"] in ("fits", "tight") and data["runs_here"] is False
    assert [b["kind"] for b in data["blocked_by"]] == [kind]
    code, out, _ = run(capsys, "predict", *args)
    fit_row = next(line for line in out.splitlines() if line.startswith("fit "))
    assert "cannot run there" in fit_row
    opts = dict(zip(args[::2], args[1::2]))
    dev = opts.pop("--device")
    rest = [x for k, v in opts.items() for x in (k, v)]
    code, out, _ = run(capsys, "devices-for", *rest, "--class", data["device"]["class"], "--format", "json")
    assert [d["meets"] for d in json.loads(out)["devices"] if d["device"]["id"] == dev] == [False]
    # and a plain prediction runs
    code, out, _ = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "pixel-8", "--format", "json")
    assert json.loads(out)["runs_here"] is True and json.loads(out)["blocked_by"] == []


def test_predict_in_a_browser_without_webgpu_takes_the_targets_runtime_that_runs_there(capsys):
    """The Galaxy A55's Chrome has no WebGPU: with no --runtime, predict answers with wllama (the
    browser target's runtime that runs there) instead of 'mlc does not run'."""
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "galaxy-a55", "--target", "browser", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["runtime"] == "wllama"
    code, out, _ = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "pixel-8", "--target", "browser", "--format", "json")
    assert json.loads(out)["runtime"] == "mlc"


@pytest.mark.parametrize("runtime_args, buffers, overhead", [
    ((), "llama.cpp", "measured: "),
    (("--runtime", "wllama", "--quant", "Q4_K_M", "--target", "browser"), "llama.cpp", "estimated: "),  # llama.cpp's GGUF path
    (("--runtime", "mlc", "--quant", "q4f16_1"), "webllm", "estimated: "),
    (("--runtime", "mlx", "--quant", "4bit"), "webllm-rule-borrowed", "estimated: "),
])
def test_predict_says_what_each_memory_term_rests_on_for_its_runtime(capsys, runtime_args, buffers, overhead):
    """Before, every runtime's buffers were 'fitted to WebLLM's own memory figures' (wllama's are
    llama.cpp's; MLX's a borrowed rule) and every overhead 'fit to peak RSS of real runs' (an
    assumption outside llama.cpp)."""
    code, out, _ = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "macbook-air-m2-16gb", *runtime_args, "--format", "json")
    assert code == 0
    basis = json.loads(out)["memory_basis"]
    assert basis["compute_buffers"] == buffers and basis["overhead"].startswith(overhead)


def test_when_nothing_passes_the_explanation_counts_what_ruled_the_candidates_out(capsys):
    """--max-download 1MB rules out every model. Before, a model 0.4 % short of memory was the
    closest miss, though its file is 3,000× the limit: a candidate that does not fit is rejected
    for the farthest of its misses, so every one is a download miss, the smallest file first."""
    code, out, _ = run(capsys, "recommend", "--device", "pixel-8", "--max-download", "1MB", "--format", "json")
    assert code == 3
    data = json.loads(out)
    kinds = [r["reason"] for r in data["rejected"]]
    # BitNet b1.58 2B4T: no catalog runtime computes it as trained (ModelSpec.miscomputed_by)
    assert [r["model"] for r in data["rejected"] if r["reason"] != "download"] == ["bitnet-b1.58-2b-4t"]
    sizes = [r["figures"]["value"] for r in data["rejected"] if r["reason"] == "download"]
    assert sizes == sorted(sizes)
    assert (f"with a download of at most 1.00 MiB: of {len(kinds)} candidates, {len(kinds) - 1} are ruled out by the download "
            "limit, 1 by a runtime that computes the model wrongly") in data["explanation"]


def test_a_model_a_little_short_of_memory_but_far_too_slow_is_a_speed_miss(capsys):
    """--min-tps 500 on a Pixel 8: the closest miss listed was Qwen3 8B Q2_K, 16.77 MiB short of
    memory, a model that would decode at ~5 tok/s; it is rejected as too slow (the speed it would
    run at with the memory), and the closest misses are the fastest models."""
    code, out, _ = run(capsys, "recommend", "--device", "pixel-8", "--min-tps", "500", "--format", "json")
    assert code == 3
    rejected = json.loads(out)["rejected"]
    by_model = {(r["model"], r["quant"]): r for r in rejected}
    qwen = by_model[("qwen3-8b", "Q2_K")]
    assert qwen["reason"] == "speed" and qwen["figures"]["value"] < 50, qwen
    assert qwen["detail"].endswith(", and it does not fit (needs 4.02 GiB)"), qwen  # the memory miss is said too
    speeds = [r["figures"]["value"] for r in rejected if r["reason"] == "speed"]
    assert rejected[0]["reason"] == "speed" and speeds == sorted(speeds, reverse=True)


def test_a_recommend_pick_round_trips_through_predict_by_its_json_backend(capsys):
    """recommend's JSON names llama.cpp's execution path as the backend (cpu-arm); predict takes it
    back (it said "llama.cpp cannot use backend 'cpu-arm' … usable here: cpu") and gives the same figures."""
    code, out, _ = run(capsys, "recommend", "--device", "galaxy-s24-ultra", "--target", "android-app", "--runtime", "llama.cpp",
                       "--format", "json", "--top", "1")
    assert code == 0
    pick = json.loads(out)["pick"]
    assert pick["backend"] == "cpu-arm"
    code, out, err = run(capsys, "predict", "--model", pick["model"], "--quant", pick["quant"], "--runtime", "llama.cpp",
                         "--backend", pick["backend"], "--device", "galaxy-s24-ultra", "--target", "android-app", "--format", "json")
    assert code == 0, err
    again = json.loads(out)
    assert again["speed"]["decode_tokens_per_s"] == pick["speed"]["decode_tokens_per_s"]
    assert again["memory"]["total_bytes"] == pick["memory"]["total_bytes"]


def test_a_ram_size_for_an_ios_app_stands_for_the_devices_that_can_host_it(capsys):
    """--ram 6GB --class phone --target ios-app was 'a phone running android' (the slowest 6–8 GB
    phone of any OS): the iOS budgets of 4 and 6 GB iPhones could not be reached without a profile."""
    code, out, err = run(capsys, "predict", "--model", "qwen3-1.7b", "--ram", "6GB", "--class", "phone", "--target", "ios-app",
                         "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["device"]["stands_for"] and all(i.startswith(("iphone", "ipad")) for i in data["device"]["stands_for"])
    assert "iPhone 13 Pro (6 GB)" in data["target"]["budget_rule"]
    code, out, _ = run(capsys, "recommend", "--ram", "8GB", "--class", "phone", "--target", "android-app", "--format", "json", "--top", "1")
    assert code == 0 and not any(i.startswith("iphone") for i in json.loads(out)["device"]["stands_for"])


def test_a_ram_size_for_a_named_browser_stands_for_the_devices_that_run_it(capsys):
    """--ram 6GB --browser safari-ios was refused ('does not run on Generic CPU-only device'): the
    RAM size stood for every device of the browser target, Android and Linux ones included; and
    --browser alone (which implies the browser target) did not narrow the devices at all."""
    stands = []
    for args in (("--target", "browser", "--browser", "safari-ios"), ("--browser", "safari-ios")):
        code, out, err = run(capsys, "recommend", "--ram", "6GB", *args, "--format", "json", "--top", "1")
        assert code == 0, err
        stands.append(json.loads(out)["device"]["stands_for"])
    assert stands[0] == stands[1] and stands[0] and all(i.startswith(("iphone", "ipad")) for i in stands[0])
    # the pick's speed is the slowest peer's in the browser too: a web backend (LiteRT-LM's WebGPU)
    # runs on no iPhone natively, so every peer was dropped and the sentence naming them was missing
    code, out, _ = run(capsys, "recommend", "--ram", "6GB", "--browser", "safari-ios", "--format", "json", "--top", "1")
    data = json.loads(out)
    peers, pick = data["pick_decode_on_ram_peers"], data["candidates"][0]
    assert len(peers) == len(stands[0]) and peers[0]["used"]
    assert peers[0]["decode_tokens_per_s"] == pytest.approx(pick["speed"]["decode_tokens_per_s"], rel=2e-3)
    assert [p["decode_tokens_per_s"] for p in peers] == sorted(p["decode_tokens_per_s"] for p in peers)
    code, out, _ = run(capsys, "recommend", "--ram", "6GB", "--browser", "chrome-android", "--format", "json", "--top", "1")
    assert code == 0 and not any(i.startswith(("iphone", "ipad", "mac")) for i in json.loads(out)["device"]["stands_for"])


def test_runtimes_may_be_given_as_a_comma_list(capsys):
    """--runtime executorch,litert-lm was 'unknown runtime'; the repeated form already worked."""
    code, out, err = run(capsys, "recommend", "--ram", "4GB", "--runtime", "executorch,litert-lm", "--format", "json", "--top", "3")
    assert code == 0, err
    listed = json.loads(out)
    code, out, _ = run(capsys, "recommend", "--ram", "4GB", "--runtime", "executorch", "--runtime", "litert-lm", "--format", "json",
                       "--top", "3")
    assert listed["candidates"] == json.loads(out)["candidates"]
    assert {c["runtime"] for c in listed["candidates"]} <= {"executorch", "litert-lm"}


def test_a_known_family_the_other_filters_empty_is_an_empty_list_not_an_unknown_family(capsys):
    """`models --family qwen3 --license noncommercial` said "no models in family 'qwen3'" and
    exited 1: Qwen3 models exist, none noncommercial. An empty list (as `devices --search` gives);
    an unknown family stays an error that lists the families."""
    code, out, err = run(capsys, "models", "--family", "qwen3", "--license", "noncommercial", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["models"] == []
    code, out, err = run(capsys, "models", "--family", "qwen9")
    assert code == 1 and out == ""
    assert err.startswith("Error: unknown model family 'qwen9'; use one of ") and "qwen3" in err


def test_safaris_1_gb_buffer_cap_is_read_as_10_9_bytes(capsys):
    """WebKit caps a buffer at '1 GB'; the catalog read it as 1 GiB, against its own rule for limits
    published as GB. Llama 3.1 8B's f16 embedding (1,050,673,152 B) lies between the two readings:
    it was 'fits' in Safari; Chrome on the desktop (WebLLM requests 1 GiB) still binds it."""
    args = ("predict", "--model", "llama-3.1-8b-instruct", "--quant", "q0f16", "--runtime", "mlc",
            "--device", "macbook-pro-14-m3-max-64gb", "--target", "browser", "--format", "json")
    code, out, err = run(capsys, *args, "--browser", "safari-macos")
    assert code == 0, err
    data = json.loads(out)
    assert not data["runs_here"] and [b["what"] for b in data["target"]["limit_breaches"]]
    code, out, err = run(capsys, *args, "--browser", "chrome-desktop")
    assert code == 0, err
    assert json.loads(out)["runs_here"]


# recommend / devices-for: a --runtime or --backend that cannot run on the device is one Error: line
# naming the valid choices, exit 1 (as predict gives), not exit 3 with an empty list of "closest
# misses"; --backend takes the same spellings as predict's (case, llama.cpp paths).
@pytest.mark.parametrize("args, message", [
    (["recommend", "--device", "pixel-8", "--runtime", "mlx"], "mlx does not run on Google Pixel 8"),
    (["recommend", "--ram", "4GB", "--backend", "metal"], "can use backend 'metal'"),
    (["recommend", "--device", "raspberry-pi-5-8gb", "--backend", "bogus"], "unknown backend 'bogus'"),
    (["recommend", "--device", "raspberry-pi-5-8gb", "--runtime", "llama.cpp", "--backend", "cuda"],
     "llama.cpp cannot use backend 'cuda' on Raspberry Pi 5 (8 GB); usable here: cpu"),
    (["devices-for", "--model", "qwen3-0.6b", "--backend", "bogus"], "unknown backend 'bogus'"),
])
def test_impossible_runtime_or_backend_is_bad_input(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1, (code, out, err)
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err
    assert message in err
    assert "closest misses" not in err and out == ""


def test_predict_markdown_says_what_it_is_of(capsys):
    """The Markdown table was the rows alone: no model, device or target anywhere in it."""
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "pixel-8", "--format", "md")
    assert (code, out.split("\n")[:3]) == (0, ["**Qwen3 0.6B Q4_K_M on Google Pixel 8**", "", "| item | value | basis |"]), err
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "pixel-8", "--target", "android-app", "--format", "md")
    assert code == 0 and out.split("\n")[2].startswith("Target Android app: ") and out.split("\n")[3:5] == ["", "| item | value | basis |"]


# predict's --runtime takes the spellings recommend's takes (repeated, or a comma list), and one
# runtime: 'mlc,llama.cpp' was "unknown runtime 'mlc,llama.cpp'; did you mean llama.cpp?"
@pytest.mark.parametrize("runtime_args, first_line", [
    (["--runtime", "mlc,"], "Qwen3 0.6B q4f16_1 with mlc (opencl) on Google Pixel 8\n"),
    (["--runtime", "MLC", "--runtime", "mlc"], "Qwen3 0.6B q4f16_1 with mlc (opencl) on Google Pixel 8\n"),
    (["--runtime", "mlc,llama.cpp"], "Error: predict takes one --runtime; to compare runtimes use 'advisor recommend --runtime all'\n"),
    (["--runtime", "llama.cpp", "--runtime", "mlc"], "Error: predict takes one --runtime; to compare runtimes use 'advisor recommend --runtime all'\n"),
])
def test_predict_runtime_spellings(capsys, runtime_args, first_line):
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "pixel-8", *runtime_args)
    assert (code, (out or err).splitlines(keepends=True)[0]) == (1 if err else 0, first_line)


@pytest.mark.parametrize("backend", ["cpu", "CPU", "cpu-arm"])
def test_backend_spellings_predict_accepts_work_in_recommend(capsys, backend):
    code, _, perr = run(capsys, "predict", "--device", "raspberry-pi-5-8gb", "--model", "qwen3-0.6b", "--backend", backend)
    assert code == 0, perr
    code, out, err = run(capsys, "recommend", "--device", "raspberry-pi-5-8gb", "--runtime", "llama.cpp",
                         "--backend", backend, "--format", "json")
    assert code == 0, err
    code, out, err = run(capsys, "devices-for", "--model", "qwen3-0.6b", "--runtime", "llama.cpp",
                         "--backend", backend, "--class", "sbc")
    assert code == 0, err


def test_predict_without_quant_takes_the_models_own_format(capsys):
    """One rule for the format of a model named alone (api.default_choice, shared with the
    dashboard's charts): gpt-oss-20b in the MXFP4_MOE it was released in, not a Q4_K_M requantization."""
    code, out, err = run(capsys, "predict", "--model", "gpt-oss-20b", "--device", "desktop-rtx3060-12gb", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["quant"] == "MXFP4_MOE"
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "desktop-rtx3060-12gb", "--format", "json")
    assert code == 0 and json.loads(out)["quant"] == "Q4_K_M"


# --------------------------------------------------------------------------- procurement audit


def test_devices_for_price_with_cents_multiplies_to_the_fleet_price(capsys):
    """$449.99 × 500 is shown as the $224,995 beside it, not as '$450'."""
    code, out, err = run(capsys, "devices-for", "--model", "qwen2.5-0.5b-instruct", "--class", "phone", "--fleet", "500",
                         "--format", "csv")
    assert code == 0, err
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["device"] == "galaxy-a55")
    assert (row["price"], row["fleet"]) == ("$449.99", "$224,995")


@pytest.mark.parametrize("usd, text", [
    (449.99, "$449.99"), (1299.99, "$1,299.99"), (599.0, "$599"), (224995.00000000003, "$224,995"), (0.5, "$0.50"),
])
def test_usd_text(usd, text):
    from advisor.wording import usd_text

    assert usd_text(usd) == text


@pytest.mark.parametrize("target", ["server", "ios-app", "desktop-app"])
def test_devices_for_browser_on_another_target_names_the_fix(capsys, target):
    code, _, err = run(capsys, "devices-for", "--model", "qwen3-4b", "--target", target, "--browser", "safari-ios")
    assert code == 1
    assert err == f"Error: --browser applies to the browser target, not {target}; drop it or use --target browser\n"


def test_devices_for_what_if_keeps_the_target_and_runtimes(capsys):
    """The what-if answers in the table's terms: under a browser tab with MLC it offers no GGUF file
    (MXFP4_MOE, IQ3_M) and no model MLC cannot load; with the iOS entitlement a variant gets the
    entitled budget, not its profile's."""
    code, out, err = run(capsys, "devices-for", "--model", "llama-3.2-1b-instruct", "--min-tps", "10", "--target", "browser",
                         "--runtime", "mlc", "--class", "desktop", "--what-if", "--format", "json")
    assert code == 0, err
    variants = json.loads(out)["what_if"]
    assert variants and all(v["newly_possible"] == [] for v in variants)
    code, out, err = run(capsys, "devices-for", "--model", "llama-3.2-3b-instruct", "--min-tps", "10", "--target", "ios-app",
                         "--entitlement", "increased-memory", "--class", "tablet", "--what-if", "--format", "json")
    assert code == 0, err
    (v,) = [v for v in json.loads(out)["what_if"] if v["device"] == "ipad-pro-m4-8gb"]
    assert "qwen3-8b" not in {n["model"] for n in v["newly_possible"]}  # fits the 8 GB iPad's entitled 5.36 GiB already


def test_devices_for_what_if_without_a_target_weighs_every_runtime(capsys):
    """gpt-oss-20b runs on the 16 GB Mac mini in MLX's mxfp4 (the table's default runtimes): the
    24 GB variant does not add it."""
    code, out, err = run(capsys, "devices-for", "--model", "llama-3.2-3b-instruct", "--min-tps", "10", "--class", "desktop",
                         "--what-if", "--format", "json")
    assert code == 0, err
    (v,) = [v for v in json.loads(out)["what_if"] if (v["device"], v["variant"]) == ("mac-mini-m4-16gb", "mac-mini-m4-24gb")]
    assert "gpt-oss-20b" not in {n["model"] for n in v["newly_possible"]}


def test_devices_for_a_device_that_cannot_host_the_target_names_its_os(capsys):
    code, out, err = run(capsys, "devices-for", "--model", "llama-3.2-1b-instruct", "--target", "android-app", "--class", "phone",
                         "--format", "json")
    assert code == 0, err
    row = next(d for d in json.loads(out)["devices"] if d["device"]["id"] == "iphone-16")
    assert row["reason"] == "the deployment target cannot run on this device (ios)"
    assert row["reason_figures"] == {"kind": "target", "name": "Apple iPhone 16", "category": "ios"}


def test_devices_for_a_class_that_cannot_host_the_target_names_where_it_runs(capsys):
    """As `advisor tiers` does: where the target runs and what these devices can host (it said only
    "no device of class sbc can host the ios-app target"). A browser no device runs is said to be that."""
    code, _, err = run(capsys, "devices-for", "--model", "qwen3-4b", "--target", "ios-app", "--class", "sbc")
    assert code == 1 and err == ("Error: no device of class sbc can host the ios-app target (it runs on phone, tablet with ios); "
                                 "targets for these devices: desktop-app, server\n")
    code, _, err = run(capsys, "devices-for", "--model", "qwen3-4b", "--target", "browser", "--browser", "safari-ios",
                       "--class", "laptop")
    assert code == 1 and err == "Error: browser 'safari-ios' runs on no device of class laptop; name another browser or other devices\n"


def test_a_browser_that_does_not_run_on_a_device_is_its_reason(capsys):
    """The browser target runs on an Android phone, Safari does not: the phone is left out for the
    browser (it read "the deployment target cannot run on this device (android)")."""
    code, out, err = run(capsys, "devices-for", "--model", "llama-3.2-1b-instruct", "--target", "browser", "--browser", "safari-ios",
                         "--class", "phone", "--format", "json")
    assert code == 0, err
    row = next(d for d in json.loads(out)["devices"] if d["device"]["id"] == "pixel-8")
    assert row["reason"] == "Safari (iOS / iPadOS) does not run on this device (its browsers: Chrome (Android))"
    assert row["reason_figures"]["kind"] == "browser"
    code, out, err = run(capsys, "tiers", "--target", "browser", "--browser", "safari-ios", "--class", "phone", "--format", "json")
    assert code in (0, 3), err
    reasons = [lo["reason"] for t in json.loads(out)["tiers"] for lo in t["left_out"] if lo["device"] == "pixel-8"]
    assert reasons == ["Safari (iOS / iPadOS) does not run on this device (its browsers: Chrome (Android))"]


def test_predict_under_a_target_says_which_store_limits_the_download_exceeds(capsys):
    """As `advisor tiers` does: Qwen3-4B Q4_K_M's 2.32 GiB download exceeds Google Play's 1.5 GB AI pack
    (deployment-targets.md §4); predict printed the download alone."""
    args = ("predict", "--device", "pixel-8", "--model", "qwen3-4b", "--quant", "Q4_K_M", "--target", "android-app")
    code, out, err = run(capsys, *args, "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert "play-ai-pack" in [x["id"] for x in d["store_limits_exceeded"]]
    assert all(d["download_bytes"] > x["max_bytes"] for x in d["store_limits_exceeded"])
    code, out, err = run(capsys, *args)
    words = " ".join(out.split())  # the basis column wraps
    assert "exceeds the target's" in words and "play-ai-pack (1.5 GB = 1.40 GiB, hard)" in words
    code, out, err = run(capsys, *args[:-2], "--format", "json")
    assert "store_limits_exceeded" not in json.loads(out)  # no target, no store


@pytest.mark.parametrize("value, limit, text", [
    (128.46, 1e6, "too slow: 128 tok/s < 1,000,000 required"),  # was "< 1e+06 required"
    (6.12, 8, "too slow: 6.1 tok/s < 8 required"), (6.12, 8.5, "too slow: 6.1 tok/s < 8.5 required"),
])
def test_a_speed_miss_is_worded_in_plain_numbers(value, limit, text):
    from advisor.records import Reason
    from advisor.wording import reason_text

    assert reason_text(Reason("speed", value=value, limit=limit)) == text


# A device that cannot host the target, or a browser it does not run, is one Error: line naming the
# target, the device and the choices, as the engine words it — not the devices-for row's "the
# deployment target cannot run on this device (linux)", which named neither.
@pytest.mark.parametrize("args, message", [
    (["predict", "--device", "raspberry-pi-5-8gb", "--model", "qwen3-0.6b", "--target", "ios-app"],
     "Error: the iOS / iPadOS app target cannot run on Raspberry Pi 5 (8 GB) (its OS: linux); targets for this "
     "device: Server / command line (server), Desktop app (desktop-app)"),
    (["recommend", "--device", "pixel-8", "--entitlement", "increased-memory"],
     "Error: the iOS / iPadOS app target cannot run on Google Pixel 8 (its OS: android); targets for this "
     "device: Server / command line (server), Android app (android-app), Browser tab (browser)"),
    (["recommend", "--device", "iphone-15-pro", "--target", "browser", "--browser", "chrome-android"],
     "Error: browser 'chrome-android' does not run on Apple iPhone 15 Pro; its browsers: Safari (iOS / iPadOS) (safari-ios)"),
    # a typo is an unknown browser with the ids --browser takes (it read "chrome does not run on this device")
    (["recommend", "--device", "iphone-15-pro", "--target", "browser", "--browser", "chrome"],
     "Error: unknown browser 'chrome'; browsers: chrome-desktop, chrome-android, safari-ios, safari-macos, firefox"),
])
def test_a_refused_target_or_browser_names_device_and_choices(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "")
    assert err.strip() == message


@pytest.mark.parametrize("args, sentence", [
    (["devices", "--search", "zzzz"], "No device matches --search 'zzzz': the catalog has"),
    (["devices", "--class", "phone", "--min-ram", "64GB", "--format", "md"], "No device matches --class phone --min-ram 64 GiB: the catalog has"),
    (["models", "--max-params", "0.01", "--license", "permissive"], "No model matches --license permissive --max-params 0.01: the catalog has"),
])
def test_an_empty_listing_names_the_filters_that_left_nothing(capsys, catalog, args, sentence):
    code, out, err = run(capsys, *args)
    assert code == 0 and err == ""
    assert out.startswith(sentence) and "drop or widen a filter" in out
    total = len(catalog.devices) if args[0] == "devices" else len(catalog.models)
    assert f"has {total} " in out


def test_an_empty_listing_in_csv_or_json_keeps_its_header_for_scripts(capsys):
    code, out, _ = run(capsys, "devices", "--search", "zzzz", "--format", "json")
    assert code == 0 and json.loads(out)["devices"] == []
    code, out, _ = run(capsys, "models", "--max-params", "0.01", "--format", "csv")
    _, full, _ = run(capsys, "models", "--format", "csv")
    assert code == 0 and out.strip().splitlines() == full.splitlines()[:1]  # the same columns as when models match
    assert full.splitlines()[0].startswith("id,name,family,params_b,")


@pytest.mark.parametrize("fmt, where", [("md", "listed above"), ("csv", "listed by --format json or table"),
                                        ("json", "in its 'rejected' list"), ("table", "listed above")])
def test_nothing_fits_says_where_the_closest_misses_are(capsys, fmt, where):
    """md printed no misses and csv cannot: both said they were 'listed above'."""
    code, out, err = run(capsys, "recommend", "--device", "raspberry-pi-4-1gb", "--min-tps", "1000", "--format", fmt)
    assert code == 3
    assert err.strip().endswith(f"the closest misses are {where}")
    if fmt in ("md", "table"):
        assert "Rejected (closest misses)" in out and "too slow: " in out


def test_run_ids_are_written_as_ranges():
    from advisor.wording import id_ranges

    assert id_ranges([1, 2]) == "1, 2"
    assert id_ranges([5, 1, 2, 3, 7, 8, 10, 11, 12, None]) == "1–3, 5, 7, 8, 10–12"
    assert id_ranges(list(range(1, 10_001))) == "1–10000"  # a 10,000-row import printed each id: a 58 KB line


def test_expert_offload_that_does_not_fit_has_the_vram_shortfall_as_headroom(capsys):
    """--n-cpu-moe 1 on an 8 GB GPU: 'does not fit' beside a headroom of +13 GiB (VRAM and RAM
    summed), when the GPU part was 10 GiB over the VRAM."""
    code, out, err = run(capsys, "predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx4060-8gb", "--n-cpu-moe", "1",
                         "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    m = data["memory"]
    assert data["fit"] == "no" and m["headroom_bytes"] < -9 * 2**30
    code, out, err = run(capsys, "predict", "--model", "qwen3-30b-a3b", "--device", "desktop-rtx4060-8gb", "--format", "json")
    assert json.loads(out)["fit"] == "offload" and json.loads(out)["memory"]["headroom_bytes"] > 0  # auto: both parts fit


@pytest.mark.parametrize("spelling", ["gpt_oss-20b", "GPT-OSS-20B", "openai/gpt-oss-20b"])
def test_a_model_named_by_any_accepted_spelling_is_that_model(capsys, spelling):
    """--model takes the catalog's spellings of an id (any case, '_' for '-') and its Hugging Face repository. recommend
    checked the spelling but filtered by it as typed: 'gpt_oss-20b' said 'Nothing fits' (exit 3); devices-for titled
    its table with the spelling."""
    code, out, err = run(capsys, "recommend", "--ram", "24GB", "--model", spelling, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["pick"]["model"] == "gpt-oss-20b"
    code, out, err = run(capsys, "devices-for", "--model", spelling, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["model"] == "gpt-oss-20b"
    code, out, err = run(capsys, "devices-for", "--model", spelling, "--top", "1")
    assert " run gpt-oss-20b, by cost" in out and spelling not in out.replace("gpt-oss-20b", "")


def test_a_rejected_file_names_its_runtime(capsys):
    """With every runtime weighed, 'gemma-2-2b-it q3f16_1: too slow' did not say it was MLC's
    file (a GGUF type is llama.cpp's, but a format id alone need not say whose it is), and the JSON
    rejections had no runtime at all."""
    code, out, err = run(capsys, "recommend", "--device", "pixel-8", "--runtime", "all", "--min-tps", "30", "--format", "json")
    assert code == 0, err
    rejected = json.loads(out)["rejected"]
    by_runtime = {r["runtime"] for r in rejected if r["quant"]}
    assert {"llama.cpp", "mlc"} <= by_runtime and all(r["backend"] for r in rejected if r["quant"])
    assert all(r["runtime"] is None for r in rejected if not r["quant"])  # a model rejected as a whole
    code, out, err = run(capsys, "recommend", "--device", "pixel-8", "--runtime", "all", "--min-tps", "30")
    lines = out[out.index("Rejected (closest misses):"):].splitlines()[1:9]
    shown = [r for r in rejected if r["reason"] not in ("model", "family", "license")][:len(lines)]
    for line, r in zip(lines, shown):
        named = f"{r['model']} {r['quant']}" + ("" if r["runtime"] == "llama.cpp" else f" ({r['runtime']})")
        assert line.strip().startswith(named + ": "), (line, named)


def test_what_if_names_what_makes_the_variant_faster(capsys):
    """An 8 GB and a 16 GB Jetson Orin NX read 102.4 GB/s alike: a model that fits the 8 GB and is
    fast enough only on the 16 GB's CPU was credited to 'the variant's faster memory (102.4 → 102.4
    GB/s)'; on the CPU the 16 GB's two more cores are the gain (and its GPU's clock is not)."""
    code, out, err = run(capsys, "devices-for", "--model", "qwen2.5-1.5b-instruct", "--min-tps", "10", "--what-if",
                         "--backend", "cpu", "--format", "json")
    assert code == 0, err
    (w,) = [w for w in json.loads(out)["what_if"] if (w["device"], w["variant"]) == ("jetson-orin-nx-8gb", "jetson-orin-nx-16gb")]
    assert w["bandwidth_gbs"] == w["variant_bandwidth_gbs"] and (w["cpu_cores"], w["variant_cpu_cores"]) == (6, 8)
    fit = [n for n in w["newly_possible"] if n["fits_device"]]
    assert fit and {n["processor"] for n in fit} == {"cpu"}
    code, out, err = run(capsys, "devices-for", "--model", "qwen2.5-1.5b-instruct", "--min-tps", "10", "--what-if",
                         "--backend", "cpu")
    text = " ".join(out.split())  # the lines wrap at the terminal's width
    line = text[text.index("What if jetson-orin-nx-8gb → jetson-orin-nx-16gb"):]
    line = re.split(r" (?=What if |No more models)", line)[0]
    assert line.endswith("memory too: fast enough with the variant's more CPU cores (6 → 8)"), line
    assert "102.4 → 102.4" not in out and "TFLOPS" not in line


def test_a_ram_only_device_stands_for_the_devices_that_run_the_runtime_named(capsys):
    """'--ram 16GB --class laptop --runtime mlc' stood for the x86 laptop whose integrated GPU MLC
    does not drive, and was refused ('mlc does not run on Generic laptop … (windows/linux)'), while
    the Macs of that RAM run it: a runtime named narrows the peers, as a target does."""
    from advisor.catalog import load_catalog

    code, out, err = run(capsys, "recommend", "--ram", "16GB", "--class", "laptop", "--runtime", "mlc", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["pick"]["runtime"] == "mlc"
    peers = [p["device"] for p in data["pick_decode_on_ram_peers"]]
    catalog = load_catalog()
    mlc = catalog.runtime("mlc")
    assert peers and all(mlc.usable_backends(catalog.device(p)) for p in peers)
    laptops = [d for d in catalog.devices.values() if d.device_class == "laptop" and d.memory.ram == 16 * 2**30]
    assert {d.id for d in laptops if mlc.usable_backends(d)} == set(peers) < {d.id for d in laptops}
    # without --runtime, the same RAM stands for every laptop of it
    code, out, err = run(capsys, "recommend", "--ram", "16GB", "--class", "laptop", "--format", "json")
    assert code == 0, err
    assert len(json.loads(out)["pick_decode_on_ram_peers"]) == len(laptops)
