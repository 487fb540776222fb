"""Fault tests run the end-to-end system (real services, broker and store as processes),
break one thing at a time and print a fault matrix at the end of the run."""

from __future__ import annotations

import pytest
from _pytest.terminal import TerminalReporter

from tests.e2e.conftest import system
from tests.faults.ledger import FaultMatrix

__all__ = ["system"]

MATRIX = pytest.StashKey[FaultMatrix]()


@pytest.fixture(scope="session")
def fault_matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> FaultMatrix:
    matrix = FaultMatrix(tmp_path_factory.getbasetemp() / "fault-matrix.md")
    request.config.stash[MATRIX] = matrix
    return matrix


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    matrix = config.stash.get(MATRIX, None)
    if matrix is None or not matrix.rows:
        return
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write(matrix.render())
    terminalreporter.write_line(f"(written to {matrix.path})")
