"""Shared pytest set-up: every test runs torch on one intra-op thread."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    # The test machines' few cores are shared, and the models here are tiny: one intra-op
    # thread is several times faster than two fighting over the cores, and results do not
    # depend on how many cores a machine has.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
