"""Shared set-up for the tests of ``grader.reference``."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same global RNG state, so results do not depend on test order."""
    torch.manual_seed(0)


pytest_plugins = ["book_fixtures"]
