"""Which data a test reads (tests/conftest.py): tests of the code read the frozen snapshot in
tests/data/snapshot, in process and in the subprocesses they start; tests marked ``catalog_data``
read the shipped catalog/ and profiles/. The snapshot covers every architecture and device class."""

import subprocess
import sys
import typing
from pathlib import Path

import pytest

from advisor.catalog import data_root, load_catalog
from advisor.records import DeviceClass, GgufArch

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "data" / "snapshot"


def _child_data_root() -> Path:
    code = "from advisor.catalog import data_root; print(data_root())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return Path(proc.stdout.strip())


def test_code_tests_read_the_snapshot(catalog):
    assert data_root() == SNAPSHOT and catalog.root == SNAPSHOT
    assert load_catalog().root == SNAPSHOT  # what the code under test loads
    assert _child_data_root() == SNAPSHOT


@pytest.mark.catalog_data
def test_catalog_data_tests_read_the_shipped_files(catalog):
    assert data_root() == ROOT and catalog.root == ROOT
    assert load_catalog().root == ROOT
    assert _child_data_root() == ROOT


def test_the_snapshot_has_every_architecture_and_device_class(catalog):
    models = catalog.models.values()
    assert {m.gguf_arch for m in models} == set(typing.get_args(GgufArch))
    assert {d.device_class for d in catalog.devices.values()} == set(typing.get_args(DeviceClass))
    assert any(m.is_moe for m in models)
    assert any(m.is_recurrent(i) for m in models for i in range(m.n_layers))  # hybrid layouts
