"""Proof that no record was altered: a digest chained over every event of an organization's stream.

A recorded event is never changed or removed. Each organization's stream is hashed event by
event, in order: SHA-256 over the digest so far, the event's position and version, its type and
the bytes stored for it. The digest of a stream through a position is therefore fixed for ever. An
auditor writes down the digest a verification returns (in the minutes of an inspection); any later
verification through the same position gives the same digest, unless a stored event has since
been changed, removed or inserted, and the digest of each organization shows which stream.

Each stream is also checked on its own: its versions run 1, 2, 3, ... without a gap, every event
lies within the stream's bounds, and every event reads back as a domain event.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

GENESIS = b"dangvien stream digest v1\n"


@dataclass
class StreamDigest:
    """An organization's stream, hashed through a position."""

    organization: str
    events: int = 0
    first_position: int | None = None
    last_position: int | None = None
    problems: list[str] = field(default_factory=list)
    value: bytes = b""
    last_version: int = 0

    def __post_init__(self) -> None:
        self.value = hashlib.sha256(GENESIS + self.organization.encode()).digest()

    def add(self, position: int, version: int, topic: str, state: bytes, unreadable: str | None = None) -> None:
        """Chain one stored event, in version order; `unreadable` is why it does not read back."""
        expected = self.last_version + 1
        if version != expected:
            self.problems.append(f"version {version} at position {position} where version {expected} was due")
        self.last_version = version
        if unreadable is not None:
            self.problems.append(f"the event at position {position} (version {version}) cannot be read back: {unreadable}")
        topic_bytes = topic.encode()
        header = struct.pack(">QQII", position, version, len(topic_bytes), len(state))
        self.value = hashlib.sha256(self.value + header + topic_bytes + state).digest()
        self.events += 1
        self.first_position = position if self.first_position is None else self.first_position
        self.last_position = position

    @property
    def digest(self) -> str:
        return self.value.hex()

    def as_json(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "events": self.events,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "digest": self.digest,
            "intact": not self.problems,
            "problems": self.problems,
        }


def digest_stream(
    organization: str,
    rows: Iterable[tuple[int, int, str, bytes]],
    unreadable: Callable[[int, int, str, bytes], str | None],
) -> StreamDigest:
    """The digest of a stream from its stored rows (position, version, topic, state) in version order."""
    found = StreamDigest(organization)
    for position, version, topic, state in rows:
        found.add(position, version, topic, state, unreadable(position, version, topic, state))
    return found


def combined(streams: Iterable[StreamDigest]) -> str:
    """One digest for several streams: of each organization's code and digest, by code."""
    digest = hashlib.sha256(GENESIS)
    for stream in sorted(streams, key=lambda s: s.organization):
        digest.update(stream.organization.encode() + b"\0" + bytes.fromhex(stream.digest))
    return digest.hexdigest()
