import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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


@pytest.fixture(scope="session")
def catalog():
    from advisor.catalog import load_catalog

    return load_catalog()


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")
