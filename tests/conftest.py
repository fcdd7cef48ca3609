"""Shared set-up for the tests of ``grader.reference``."""

import pytest
import torch

# The tests use tiny tensors: one intra-op thread is as fast, and it avoids OpenMP threads
# spinning against each other (or against other processes) on a small, busy machine, which
# made the LSTM training test take 20 s instead of 0.6 s on 2 CPUs.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same global RNG state, so results do not depend on test order."""
    torch.manual_seed(0)


pytest_plugins = ["book_fixtures"]


@pytest.fixture(scope="module")
def verifier():
    """A trusted verification with short per-part limits, shared by a test module's slow tests."""
    from grader.integrity.verify import Verifier, VerifySettings

    v = Verifier(VerifySettings(part_timeout=20.0, definitions_timeout=20.0))
    yield v
    v.close()
