"""Fault tests run the end-to-end system (real services, broker and store as processes),
break one thing at a time and print a fault matrix at the end of the run (tests/conftest.py
prints it, with the seed every fault's randomness derives from)."""

from __future__ import annotations

import pytest

from tests.conftest import MATRIX, SEED
from tests.e2e.conftest import system
from tests.faults.ledger import FaultMatrix

__all__ = ["fault_matrix", "system"]


@pytest.fixture(scope="session")
def fault_matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> FaultMatrix:
    matrix = FaultMatrix(
        tmp_path_factory.getbasetemp() / "fault-matrix.md", request.config.stash[SEED]
    )
    request.config.stash[MATRIX] = matrix
    return matrix
