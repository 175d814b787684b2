"""Schemathesis over the OpenAPI schema: whatever a client sends, the server never answers 5xx.

A real `dangvien serve` process with the demonstration province loaded (so that generated
requests also reach real organizations), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.e2e.serving import ServeProcess
from tests.pgserver import temporary_database

ADMIN = "dv_fuzz-admin"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
# Streaming and long-polling routes hold the connection open by design.
EXCLUDED_PATHS = ("/v1/events/stream",)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def base_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running server with the demo province, on each store."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("fuzz")
        database = iter([f"sqlite:///{folder}/fuzz.db"])
        context = None
    else:
        context = temporary_database(request.getfixturevalue("postgres_server_url"))
        database = iter([context.__enter__()])
    env = {"DANGVIEN_DATABASE_URL": next(database), "DANGVIEN_ADMIN_TOKEN": ADMIN, "DANGVIEN_READ_WAIT_SECONDS": "0.2"}
    try:
        # Its output goes nowhere: a pipe nobody reads would fill up and stop the server.
        with ServeProcess(env, args=("--demo",)) as server:
            yield server.url
    finally:
        if context is not None:
            context.__exit__(None, None, None)


def header(response: schemathesis.Response, name: str) -> str:
    """A header's first value (schemathesis keeps each header as the list of its values)."""
    return next((values[0] for key, values in response.headers.items() if key.lower() == name and values), "")


def test_no_request_makes_the_server_fail(base_url: str) -> None:
    """Generated requests to every operation, valid and invalid, with the admin's token, never get a 5xx."""
    api = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 20, "the schema lost its operations"
    for operation in operations:
        if operation.path in EXCLUDED_PATHS:
            continue

        @given(case=operation.as_strategy())
        # No shrinking: the failing request is printed whole, and a run must stay short.
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
            phases=(Phase.explicit, Phase.generate),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=AUTH, timeout=30)
            if response.status_code >= 500:
                # The contract's one 5xx: a query for a position the read models have not reached.
                content_type = header(response, "content-type")
                problem = response.json() if content_type.endswith("json") else {}
                assert response.status_code == 503 and problem.get("code") == "not-caught-up", (
                    f"{response.status_code} for {case.as_curl_command(headers={'Authorization': '[token]'})}: "
                    f"{response.text[:500]}"
                )
                assert header(response, "retry-after"), "a 503 must say when to retry"

        try:
            call()
        except Exception as failure:  # noqa: BLE001 - every operation is tried; all failures are reported
            failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
    assert not failures, "\n\n".join(failures)
