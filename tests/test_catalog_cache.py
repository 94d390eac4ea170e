"""The validated catalog kept between runs (advisor.catalog_cache): the same catalog from the cache,
a fresh validation when a data file changes, and a broken cache file never breaks a run."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest

from advisor import catalog_cache
from advisor.catalog import _validate_all, data_root


@pytest.fixture
def data(tmp_path):
    """A private copy of the shipped data, so that its files can be edited."""
    root = tmp_path / "data"
    shutil.copytree(data_root() / "catalog", root / "catalog")
    shutil.copytree(data_root() / "profiles", root / "profiles")
    return root, tmp_path / "home"


def build_counter(root, home):
    calls = []

    def build():
        calls.append(1)
        return _validate_all(root, home)

    return build, calls


def test_second_load_comes_from_the_cache_and_equals_a_fresh_validation(data):
    root, home = data
    build, calls = build_counter(root, home)
    first = catalog_cache.load_or_build(root, home, build)
    second = catalog_cache.load_or_build(root, home, build)
    assert len(calls) == 1 and catalog_cache.cache_path(home).is_file()
    assert second == first == _validate_all(root, home)


def test_an_edited_profile_is_validated_afresh(data):
    root, home = data
    build, calls = build_counter(root, home)
    catalog_cache.load_or_build(root, home, build)
    profile = root / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml"
    profile.write_text(profile.read_text().replace("bandwidth_gbs = 17.1", "bandwidth_gbs = 12.3"))
    st = profile.stat()
    os.utime(profile, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a later time, even on a coarse clock
    again = catalog_cache.load_or_build(root, home, build)
    assert len(calls) == 2
    assert again.devices["raspberry-pi-5-8gb"].memory.bandwidth_gbs == 12.3


def test_a_user_addition_is_validated_afresh(data):
    root, home = data
    build, calls = build_counter(root, home)
    catalog_cache.load_or_build(root, home, build)
    (home / "profiles").mkdir(parents=True)
    src = (root / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text()
    (home / "profiles" / "mine.toml").write_text(src.replace('id = "raspberry-pi-5-8gb"', 'id = "mine"'))
    again = catalog_cache.load_or_build(root, home, build)
    assert len(calls) == 2 and "mine" in again.devices


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps(("another key", None))])
def test_a_broken_or_stale_cache_file_is_replaced(data, content):
    root, home = data
    path = catalog_cache.cache_path(home)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    build, calls = build_counter(root, home)
    got = catalog_cache.load_or_build(root, home, build)
    assert len(calls) == 1 and got.models
    assert catalog_cache.load_or_build(root, home, build) == got and len(calls) == 1


def test_an_unwritable_home_only_costs_the_cache(data):
    root, _ = data
    home = root / "catalog" / "models.toml"  # a file: no cache directory can be made under it
    build, calls = build_counter(root, root / "nowhere")
    got = catalog_cache.load_or_build(root, home, build)
    assert got.models and len(calls) == 1


def test_disabled_by_environment(data, monkeypatch):
    root, home = data
    monkeypatch.setenv("ADVISOR_NO_CACHE", "1")
    build, calls = build_counter(root, home)
    catalog_cache.load_or_build(root, home, build)
    catalog_cache.load_or_build(root, home, build)
    assert len(calls) == 2 and not catalog_cache.cache_path(home).exists()


def test_ram_only_devices_are_kept_with_the_catalog(data):
    """A RAM-only device is made once per catalog (and so travels in its cache), per RAM, class and usable."""
    from advisor.api import DeviceChoice, resolve_device

    root, home = data
    cat = _validate_all(root, home)
    first = resolve_device(DeviceChoice(ram="4GB"), cat)
    assert resolve_device(DeviceChoice(ram="4GB"), cat) is first
    other = resolve_device(DeviceChoice(ram="4GB", usable="2GB"), cat)
    assert other is not first and other.memory.usable == 2 * 1024**3
    catalog_cache._store(catalog_cache.cache_path(home), ("key",), cat)
    with open(catalog_cache.cache_path(home), "rb") as fh:
        _, again = pickle.load(fh)
    assert len(again.made_devices) == 2 and first in again.made_devices.values()
