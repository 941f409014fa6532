"""The devices the tests run on: $CLT_TEST_DEVICES (comma-separated), else
the reference backend and, when OpenCL has a CPU device (POCL), "cpu"."""
import os

import pytest

import cltrain


def test_devices():
    env = os.environ.get("CLT_TEST_DEVICES")
    if env:
        return [d for d in env.split(",") if d]
    return ["ref"] + (["cpu"] if any(d.type == "cpu" for d in cltrain.devices()) else [])


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", test_devices())


@pytest.fixture
def ctx(device):
    with cltrain.Context(device) as c:
        yield c
