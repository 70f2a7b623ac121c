"""Fixtures shared by several test folders."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def single_thread():
    """One torch thread for the duration of a test: on tiny tensors OpenMP synchronisation costs more than it saves
    (severely so when other jobs share the cores). Use with `pytestmark = pytest.mark.usefixtures("single_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
