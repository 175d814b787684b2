"""Real sockets for the feed's tests: the app under uvicorn in a thread, `dangvien serve` as a child
process, a server-sent event reader, and a webhook receiver that checks every signature.

httpx's ASGI transport hands over a response only once it is complete, so a stream that never ends
and a webhook that is POSTed to a URL both need a real server; these are the smallest ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, alive: Callable[[], bool] = lambda: True, seconds: float = 30) -> None:
    """Poll /healthz until the server answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive():
            raise AssertionError("the server stopped while starting")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not start")


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The application on a free loopback port under uvicorn in a thread; yields its base URL."""
    port = free_port()
    app = create_app(settings, log_stream=io.StringIO())
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, thread.is_alive)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


class ServeProcess:
    """`dangvien serve` as a child process that can be stopped, killed and started again."""

    def __init__(self, env: dict[str, str], port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DANGVIEN_")} | env
        self.args = args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        command = [sys.executable, "-c", "from service.cli import main; main()", "serve", "--port", str(self.port), *self.args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        process = self.process
        wait_until_up(self.url, lambda: process.poll() is None)

    def kill(self) -> None:
        """Stop it at once, as a crash would (SIGKILL: nothing is finished or released)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop it gracefully (SIGTERM), or kill it if it takes too long."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Message:
    """One server-sent event as received."""

    id: int
    event: dict[str, Any]


def stream(
    url: str,
    token: str,
    last_event_id: int | None = None,
    query: str = "",
    timeout: float = 10.0,
) -> Iterator[Message | str]:
    """Read `GET /v1/events/stream`: each message, and each comment as its text (a heartbeat).

    Closing the generator closes the connection, which is how a test disconnects.
    """
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with httpx.Client(timeout=httpx.Timeout(timeout)) as client:
        with client.stream("GET", f"{url}/v1/events/stream{query}", headers=headers) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if line.startswith(":"):
                    yield line
                elif line == "":
                    if "data" in fields:
                        yield Message(int(fields["id"]), json.loads(fields["data"]))
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """A Standard Webhooks receiver's check, written from the spec: any `v1` signature matches, the
    timestamp is recent."""
    msg_id, timestamp, signatures = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
            return True
    return False


@dataclass
class Delivery:
    """One request received by the webhook receiver."""

    path: str
    webhook_id: str
    event: dict[str, Any]
    signed: bool
    answered: int
    headers: dict[str, str]


@dataclass
class Endpoint:
    """How one path of the receiver answers, and what it has received."""

    secret: str = ""
    status: Callable[[Delivery], int] = lambda delivery: 200
    delay: float = 0.0
    received: list[Delivery] = field(default_factory=list)

    def taken(self) -> list[Delivery]:
        """The deliveries answered with a 2xx."""
        return [d for d in self.received if 200 <= d.answered < 300]


class Receiver:
    """A webhook receiver on a loopback port: each path answers as its `Endpoint` says."""

    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                endpoint = receiver.endpoints.get(self.path)
                if endpoint is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                delivery = Delivery(
                    self.path, headers.get("webhook-id", ""), json.loads(body),
                    bool(endpoint.secret) and verify(endpoint.secret, headers, body), 0, headers,
                )
                delivery.answered = endpoint.status(delivery)
                if endpoint.delay:
                    time.sleep(endpoint.delay)
                with receiver.lock:
                    endpoint.received.append(delivery)
                self.send_response(delivery.answered)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)

    def endpoint(self, path: str, **options: Any) -> Endpoint:
        """Answer at `path` as `options` say; return the endpoint."""
        self.endpoints[path] = Endpoint(**options)
        return self.endpoints[path]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll until `condition()` holds, or fail saying `what` did not happen."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.02)


class Client:
    """Commands and queries over HTTP, as one token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def as_token(self, token: str) -> Client:
        """The same server, as another token."""
        return Client(self.url, token)

    def post(self, path: str, body: Any) -> httpx.Response:
        """POST JSON."""
        return self.http.post(path, json=body)

    def get(self, path: str) -> httpx.Response:
        """GET."""
        return self.http.get(path)

    def found(self, org_code: str, kind: str, parent: str | None) -> str:
        """Found an organization on 1 January 2015; return its code."""
        from tests.e2e.conftest import FOUNDED_ON, decision

        response = self.post("/v1/organizations", {
            "code": org_code, "name": f"Tổ chức {org_code}", "kind": kind, "parent": parent,
            "founded_on": FOUNDED_ON, "decision": decision(FOUNDED_ON),
        })
        assert response.status_code == 201, response.text
        return org_code

    def token_for(self, role: str, scope: str | None) -> str:
        """A new token for this role and scope."""
        from tests.e2e.conftest import code

        response = self.post("/v1/tokens", {"role": role, "scope": scope, "label": code(role)})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def admit(self, cell: str) -> dict[str, Any]:
        """Admit a new person to a cell; return the response body."""
        from tests.e2e.conftest import admission

        response = self.post(f"/v1/organizations/{cell}/admissions", admission())
        assert response.status_code == 201, response.text
        return dict(response.json())

    def feed(self, after: int = 0, limit: int = 1000, query: str = "") -> list[dict[str, Any]]:
        """Every event of the feed after a position, paging to the end."""
        events: list[dict[str, Any]] = []
        while True:
            response = self.get(f"/v1/events?after={after}&limit={limit}{query}")
            assert response.status_code == 200, response.text
            page = response.json()
            events += page["events"]
            if page["next_after"] == after:
                return events
            after = page["next_after"]

    def close(self) -> None:
        """Close the connections."""
        self.http.close()
