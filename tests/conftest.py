import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Where the data each test reads lives (a directory holding catalog/ and profiles/). Tests of the
#: code read SNAPSHOT_DATA, a frozen copy made by scripts/refresh_test_data, so an edit to the shipped
#: data cannot break them; tests marked ``catalog_data`` check the shipped files, SHIPPED_DATA.
SNAPSHOT_DATA = ROOT / "tests" / "data" / "snapshot"
SHIPPED_DATA = ROOT
# set before collection: module-level lookups (``data_root()``, parametrize lists) see the snapshot
os.environ["ADVISOR_DATA_DIR"] = str(SNAPSHOT_DATA)


def data_dir_for(item) -> Path:
    return SHIPPED_DATA if item.get_closest_marker("catalog_data") else SNAPSHOT_DATA


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False, help="rewrite golden files")
    parser.addoption("--run-hardware", action="store_true", default=False,
                     help="also run the tests that probe this machine's real hardware (marked 'hardware')")


def pytest_collection_modifyitems(config, items):
    """Real hardware probes (seconds of memory-bandwidth benchmarks) run only when asked for."""
    if config.getoption("--run-hardware") or os.environ.get("ADVISOR_TEST_HARDWARE") == "1":
        return
    skip = pytest.mark.skip(reason="probes this machine's hardware; run with --run-hardware or ADVISOR_TEST_HARDWARE=1")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each test reads its data directory, set before any of its fixtures (of any scope) is built;
    subprocesses (the CLI, the dashboard) inherit it."""
    os.environ["ADVISOR_DATA_DIR"] = str(data_dir_for(item))


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    """Tests never read or write the developer's real ~/.edge-model-advisor."""
    home = tmp_path_factory.mktemp("advisor-home")
    old = os.environ.get("ADVISOR_HOME")
    os.environ["ADVISOR_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("ADVISOR_HOME", None)
    else:
        os.environ["ADVISOR_HOME"] = old


@pytest.fixture(autouse=True)
def _forget_imported_models():
    """A model a test imports (api.import_model adds it to the process's cached catalog) does not
    outlive the test: later tests see the catalog as loaded."""
    yield
    from advisor.api import forget_imported_models

    forget_imported_models()


@pytest.fixture(scope="module")
def twin_cache(tmp_path_factory, request):
    """A directory for a test module's GGUF and runtime twins (GBs over a run): ADVISOR_TWIN_CACHE
    when set (kept), else a temporary one deleted when the module's tests are done, so a run holds
    one module's twins at a time and leaves none behind."""
    env = os.environ.get("ADVISOR_TWIN_CACHE")
    if env:
        yield Path(env)
        return
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _load_catalog_from(root: Path):
    from advisor.catalog import load_catalog

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_DATA_DIR", str(root))
        return load_catalog()  # cached per data directory and home: the same object the code under test loads


@pytest.fixture(scope="session")
def snapshot_catalog():
    """The catalog of tests/data/snapshot (for module- or session-scoped fixtures of code tests)."""
    return _load_catalog_from(SNAPSHOT_DATA)


@pytest.fixture(scope="session")
def shipped_catalog():
    """The shipped catalog/ and profiles/ (for module- or session-scoped fixtures of catalog_data tests)."""
    return _load_catalog_from(SHIPPED_DATA)


@pytest.fixture
def catalog(request):
    """The catalog the test reads: the shipped one for a test marked ``catalog_data``, else the snapshot."""
    shipped = data_dir_for(request.node) == SHIPPED_DATA
    return request.getfixturevalue("shipped_catalog" if shipped else "snapshot_catalog")


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")
