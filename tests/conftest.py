"""Suite-wide settings.

Torch runs on one thread in tests: the models are tiny, so a second thread only adds
synchronization, and on a loaded 2-core machine it made small operations many times
slower. Benchmarks set their own thread counts.
"""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
