"""Every answer conforms to the service's own OpenAPI document: schemathesis sends
generated requests, conforming and not (`--mode all`), to each running service as each
kind of caller, and checks that each answer's status is one the operation documents, that
its content type, headers and body match what the document says for that status, and that
none is a server error. At least `MIN_CASES` cases per service and caller.

The requests go to real processes over Kafka and the store (`make test-conformance`); the
seed fixes the cases, so a failure is repeated by running it again."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from muster_auth.dev_tokens import issue_token
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_api_fuzz import CALLERS, SCHEMATHESIS

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)
MIN_CASES = 300
SEED = 20261207
# Cases per operation, enough for MIN_CASES on the service with the fewest operations.
EXAMPLES_PER_OPERATION = {"volunteer": 5, "dispatch": 3, "reporting": 8, "notify": 20}


@pytest.mark.parametrize("caller", CALLERS, ids=[f"{s}-as-{r.value}" for s, r in CALLERS])
def test_every_answer_conforms_to_the_openapi_document(
    system: RunningSystem, caller: tuple[str, Role]
) -> None:
    service, role = caller
    token = issue_token(f"conformance-{role.value}", role, "130203")
    started = time.monotonic()
    for seed in (SEED, SEED + 1):
        run = subprocess.run(
            [
                str(SCHEMATHESIS), "run", f"{system.urls[service]}/openapi.json",
                "-H", f"Authorization: Bearer {token}",
                "--checks", CHECKS, "--mode", "all", "--phases", "examples,coverage,fuzzing",
                "--max-examples", str(EXAMPLES_PER_OPERATION[service]), "--seed", str(seed),
                # One worker: the tool's threads parse Python source concurrently, which
                # CPython 3.11's AST constructor does not survive.
                "--workers", "1", "--no-shrink", "--continue-on-failure",
                "--output-truncate", "false", "--warnings", "off",
            ],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        # The tool can fail in its own code while it builds a strategy (CPython's "AST
        # constructor recursion depth mismatch"), which says nothing of the API: such a
        # run is repeated once with the next seed. A finding about an answer is named by
        # its check code (ST1xx) and is never repeated away.
        if run.returncode == 0 or re.search(r"\bST\d{3}\b", run.stdout):
            break
    elapsed = time.monotonic() - started
    summary = run.stdout[-20000:]
    cases = re.search(r"Test cases:?\s*\n?\s*(\d+) generated[^\n]*", summary)
    print(
        f"\nconformance: {service} as {role.value}: "
        f"{cases.group(0).strip() if cases else '?'} in {elapsed:.1f} s"
    )
    assert run.returncode == 0, summary
    assert cases is not None, summary
    assert int(cases.group(1)) >= MIN_CASES, cases.group(0)
