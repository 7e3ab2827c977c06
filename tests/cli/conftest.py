import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--smelt", required=True, help="path to the smelt binary")
    parser.addoption("--model-dir", default=os.path.expanduser("~/.cache/smelt/models"))
    parser.addoption("--vocab-dir", default=None, help="llama.cpp's ggml-vocab-*.gguf suites (../shared/testdata/vocab)")


@pytest.fixture(scope="session")
def smelt(request):
    return os.path.abspath(request.config.getoption("--smelt"))


@pytest.fixture(scope="session")
def model_dir(request):
    return request.config.getoption("--model-dir")


@pytest.fixture(scope="session")
def vocab_dir(request):
    d = request.config.getoption("--vocab-dir")
    if not d or not os.path.isdir(d):
        pytest.fail(f"--vocab-dir {d!r} is not a directory")
    return d
