"""The published llama.cpp rows the speed benchmarks fit and check (benchmarks/published.py)."""

from advisor.engine.speed import execution_path
from benchmarks import published


def test_opencl_row_runs_on_the_opencl_path(catalog):
    """The Adreno 750 rows were measured with llama.cpp's OpenCL backend: they must be predicted
    (and fitted) on the opencl path, not silently on the phone's CPU path."""
    rows = [r for r in published.load_runtime_rows(catalog) if "Adreno 750" in r.raw["device"]]
    assert rows
    assert {execution_path(r.observation.device) for r in rows} == {"opencl"}


def test_reference_bandwidths_are_theoretical_peaks(catalog):
    """bw_efficiency is relative to the datasheet peak: the i5-6500 desktop is DDR3L-1600 dual channel."""
    row = next(r for r in published.load_rows(catalog, with_runtime=False)
               if r.observation is not None and r.raw["device"].startswith("Desktop PC (i5-6500"))
    assert row.observation.device.memory.bandwidth_gbs == 2 * 64 / 8 * 1.6
