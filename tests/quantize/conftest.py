import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--smelt", required=True, help="path to the smelt binary")
    parser.addoption("--test-model", required=True, help="path to tests/model's test_model binary")
    parser.addoption("--model-dir", default=os.path.expanduser("~/.cache/smelt/models"))
    parser.addoption("--quick", action="store_true", help="fewer types in the byte-identity test (sanitizer builds)")


QUICK_TYPES = {"F16", "Q8_0", "Q4_K_M", "Q3_K_S", "IQ4_XS", "Q5_1"}


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--quick"):
        return
    skip = pytest.mark.skip(reason="--quick: one type per quantizer family")
    skip_rt = pytest.mark.skip(reason="--quick: the round trips are oracle checks of the release build")
    for it in items:
        cs = getattr(it, "callspec", None)
        if it.name.startswith("test_ref_matches") and cs and cs.params.get("typ") not in QUICK_TYPES:
            it.add_marker(skip)
        if it.name.startswith("test_roundtrip"):
            it.add_marker(skip_rt)


@pytest.fixture(scope="session")
def smelt(request):
    return os.path.abspath(request.config.getoption("--smelt"))


@pytest.fixture(scope="session")
def test_model(request):
    return os.path.abspath(request.config.getoption("--test-model"))


@pytest.fixture(scope="session")
def model_dir(request):
    return request.config.getoption("--model-dir")
