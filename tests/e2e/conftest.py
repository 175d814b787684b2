"""The HTTP API on a fresh store (`database_url`: SQLite, then PostgreSQL), driven through httpx.

Every test gets its own application, run with its lifespan, the real read models and their
runner, a bootstrap admin token, and the JSON log lines it wrote.
"""

from __future__ import annotations

import io
import json
import random
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings

ADMIN_TOKEN = "dv_e2e-admin-" + secrets.token_hex(8)
FOUNDED_ON = "2015-01-01"
DECIDED_ON = "2021-03-01"
ADMITTED_ON = "2021-03-15"


def decision(issued_on: str = DECIDED_ON) -> dict[str, Any]:
    """A decision with a random number."""
    return {"number": f"{random.randint(1, 9999)}-QĐ/ĐU", "issued_on": issued_on}


def national_id() -> str:
    """A random 12-digit citizen ID."""
    return "0" + "".join(random.choices("0123456789", k=11))


def person(**overrides: Any) -> dict[str, Any]:
    """A person of 25 on the usual admission date, with personal data worth protecting."""
    body = {
        "national_id": national_id(),
        "full_name": random.choice(["Nguyễn Thị Lan", "Trần Văn Nam", "Lê Minh Hà", "Phạm Thu Hương"])
        + f" {secrets.token_hex(2)}",
        "birth_date": "1996-01-10",
        "sex": random.choice(["male", "female"]),
        "ethnicity": "Ê Đê",
        "religion": "Tin Lành",
        "youth_union_member": True,
        "education": "upper_secondary",
        "occupation": "farmer",
    }
    return {**body, **overrides}


def admission(**overrides: Any) -> dict[str, Any]:
    """An admission body for a new person."""
    return {"person": person(), "admitted_on": ADMITTED_ON, "decision": decision(), **overrides}


def code(prefix: str) -> str:
    """A code never used before, like `DL-3fa91c`."""
    return f"{prefix}-{secrets.token_hex(3)}"


@dataclass
class Api:
    """A running application and a client for it."""

    app: FastAPI
    client: httpx.AsyncClient
    log: io.StringIO

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON line logged so far."""
        return [json.loads(line) for line in self.log.getvalue().splitlines() if line.strip()]

    @property
    def services(self) -> Any:
        return self.app.state.services

    def head(self) -> int:
        """The position of the newest event in the log."""
        return int(self.services.ledger.recorder.max_notification_id() or 0)

    async def request(self, method: str, url: str, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        """A request with `Authorization: Bearer <token>` (none when token is None)."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.request(method, url, headers=headers, **kwargs)

    async def post(self, url: str, body: Any = None, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, token, json=body, **kwargs)

    async def put(self, url: str, body: Any = None, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, token, json=body, **kwargs)

    async def get(self, url: str, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, token, **kwargs)

    async def found(self, org_code: str, kind: str, parent: str | None, token: str = ADMIN_TOKEN) -> str:
        """Found an organization on 1 January 2015; return its code."""
        response = await self.post(
            "/v1/organizations",
            {"code": org_code, "name": f"Tổ chức {org_code}", "kind": kind, "parent": parent,
             "founded_on": FOUNDED_ON, "decision": decision(FOUNDED_ON)},
            token,
        )
        assert response.status_code == 201, response.text
        return org_code

    async def token(self, role: str, scope: str | None, label: str | None = None) -> str:
        """A new token for this role and scope."""
        response = await self.post(
            "/v1/tokens", {"role": role, "scope": scope, "label": label or code(role)}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    async def admit(self, cell: str, token: str = ADMIN_TOKEN, **overrides: Any) -> dict[str, Any]:
        """Admit a new person to a cell; return the response body."""
        response = await self.post(f"/v1/organizations/{cell}/admissions", admission(**overrides), token)
        assert response.status_code == 201, response.text
        return dict(response.json())


@dataclass
class Tree:
    """Two provinces: `province` ─ `commune` ─ cells `cell_a`, `cell_b`; `other` ─ `other_cell`."""

    province: str
    commune: str
    cell_a: str
    cell_b: str
    other: str
    other_cell: str
    tokens: dict[str, str] = field(default_factory=dict)


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test store: small pools, short waits, short event streams."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "threads": 8,
        "postgres_pool_size": 1,
        "service_pool_size": 4,
        "read_wait_seconds": 5.0,
        "stream_poll_seconds": 0.05,
        "stream_max_seconds": 1.0,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings, **app_options: Any) -> AsyncIterator[Api]:
    """The application built from `settings`, started, with a client; stopped afterwards."""
    log = io.StringIO()
    app = create_app(settings, log_stream=log, **app_options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dangvien.test") as client:
            yield Api(app, client, log)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """The application on this test's own empty store, with the projection runner."""
    async with running(settings_for(database_url)) as started:
        yield started


@pytest.fixture
def start_api(database_url: str) -> Callable[..., Any]:
    """Start an application on this test's store with other settings: `async with start_api(**settings)`."""

    def start(announce_admin_token: Callable[[str], None] | None = None, **overrides: Any) -> Any:
        return running(settings_for(database_url, **overrides), announce_admin_token=announce_admin_token)

    return start


@pytest.fixture
async def tree(api: Api) -> Tree:
    """Two provinces with a commune and cells under the first, a cell under the second."""
    province = await api.found(code("DL"), "provincial", None)
    commune = await api.found(code("DL.BMT"), "upper_grassroots", province)
    cell_a = await api.found(code("DL.BMT.A"), "grassroots_cell", commune)
    cell_b = await api.found(code("DL.BMT.B"), "grassroots_cell", commune)
    other = await api.found(code("GL"), "provincial", None)
    other_cell = await api.found(code("GL.A"), "grassroots_cell", other)
    return Tree(province, commune, cell_a, cell_b, other, other_cell)
