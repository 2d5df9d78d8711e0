"""One torch thread for the flow tests: tiny tensors, and a shared 2-core machine where a second
OpenMP thread spins against other processes (tens of times slower under load)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
