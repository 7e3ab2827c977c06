import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--smelt", required=True, help="path to the smelt binary")
    parser.addoption("--model-dir", default=os.path.expanduser("~/.cache/smelt/models"))


@pytest.fixture(scope="session")
def smelt(request):
    return os.path.abspath(request.config.getoption("--smelt"))


@pytest.fixture(scope="session")
def model_dir(request):
    return request.config.getoption("--model-dir")
