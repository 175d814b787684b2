"""The history of the tree of organizations, held in memory by the projector.

Each organization has a lifetime and a list of parent intervals. Its path on a day (the keys of
its ancestors and itself) follows from them; the projector asks for paths to attribute every fact
to every ancestor as the tree stood on the fact's day, and writes path intervals to `rm_org_path`
so queries can find a subtree on any day with one range scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from projections.db import OPEN_END, Cursor

Path = tuple[int, ...]


@dataclass
class Node:
    key: int
    code: str
    kind: str
    founded_on: str
    ended_on: str | None = None
    # [valid_from, valid_to, parent_key], ordered, contiguous over the lifetime.
    parents: list[list] = field(default_factory=list)

    @property
    def last_day(self) -> str:
        """The last day the organization existed (or the open end)."""
        return day_before(self.ended_on) if self.ended_on else OPEN_END


def day_before(day: str) -> str:
    """The ISO day before an ISO day."""
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def path_text(path: Path) -> str:
    return "/" + "/".join(str(k) for k in path) + "/"


def subtree_range(path: Path) -> tuple[str, str]:
    """Bounds of every path inside `path`'s subtree: ('/1/7/', '/1/70')."""
    prefix = path_text(path)
    return prefix, prefix[:-1] + "0"


class Tree:
    """Every organization ever founded, with its parent intervals."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.by_code: dict[str, int] = {}
        self.by_stream: dict[str, int] = {}
        self.children_ever: dict[int, set[int]] = {}
        self._paths: dict[tuple[int, str], Path] = {}

    def load(self, cur: Cursor) -> None:
        """Read the tree back from its tables (the projector's memory is disposable too)."""
        for key, code, stream_id, kind, founded_on, ended_on in cur.execute(
            "SELECT org_key, code, stream_id, kind, founded_on, ended_on FROM rm_org"
        ).all():
            self.nodes[key] = Node(key, code, kind, founded_on, ended_on)
            self.by_code[code] = key
            self.by_stream[stream_id] = key
        for key, valid_from, valid_to, parent in cur.execute(
            "SELECT org_key, valid_from, valid_to, parent_key FROM rm_org_parent ORDER BY org_key, valid_from"
        ).all():
            self.nodes[key].parents.append([valid_from, valid_to, parent])
            if parent is not None:
                self.children_ever.setdefault(parent, set()).add(key)

    def next_key(self) -> int:
        return max(self.nodes, default=0) + 1

    def add(self, key: int, code: str, stream_id: str, kind: str, founded_on: str, parent: int | None) -> None:
        self.nodes[key] = Node(key, code, kind, founded_on, parents=[[founded_on, OPEN_END, parent]])
        self.by_code[code] = key
        self.by_stream[stream_id] = key
        if parent is not None:
            self.children_ever.setdefault(parent, set()).add(key)
        self._paths.clear()

    def set_parent(self, key: int, parent: int, since: str) -> None:
        """From `since` on, the organization sits under `parent`."""
        node = self.nodes[key]
        kept = [iv for iv in node.parents if iv[0] < since]
        if kept and kept[-1][1] > since:
            kept[-1] = [kept[-1][0], since, kept[-1][2]]
        later = [iv for iv in node.parents if iv[0] >= since]
        end = later[-1][1] if later else OPEN_END
        node.parents = kept + [[since, end, parent]]
        self.children_ever.setdefault(parent, set()).add(key)
        self._paths.clear()

    def end(self, key: int, on: str) -> None:
        """The organization ceased on `on` (merged, split or dissolved).

        A move on that same day is kept as an empty interval [on, on) after the last one: the
        organization ends where it was moved to. In the 2025 reorganisation a merger moves a
        district under the province it merges into, its cells go on to a commune and the district
        is dissolved, all on 1 July: the cells' moves leave the district in its new place, not in
        the merged province a second time.
        """
        node = self.nodes[key]
        node.ended_on = on
        kept = [iv for iv in node.parents if iv[0] < on] or node.parents[:1]
        moved = [iv for iv in node.parents if iv[0] >= on and iv is not kept[-1]]
        kept[-1] = [kept[-1][0], on, kept[-1][2]]
        if moved and kept[-1][0] < on and moved[-1][2] != kept[-1][2]:
            kept.append([on, on, moved[-1][2]])
        node.parents = kept
        self._paths.clear()

    def parent_at(self, key: int, day: str) -> int | None:
        parents = self.nodes[key].parents
        for valid_from, valid_to, parent in parents:
            if valid_from <= day < valid_to:
                return parent
        return parents[-1][2]

    def path_at(self, key: int, day: str) -> Path:
        """The organization's ancestors and itself on `day`.

        Outside its lifetime an organization keeps the parent it had at the nearest end of it,
        while that parent's own place is still taken on `day`: a unit that ends on the day its
        parent moves ends in the parent's new place, as the two decisions intend.
        """
        cached = self._paths.get((key, day))
        if cached is not None:
            return cached
        node = self.nodes[key]
        if node.ended_on is not None and day >= node.ended_on:
            parent = node.parents[-1][2]
        else:
            parent = self.parent_at(key, min(max(day, node.founded_on), node.last_day))
        path = (self.path_at(parent, day) if parent is not None else ()) + (key,)
        if len(self._paths) > 200_000:
            self._paths.clear()
        self._paths[(key, day)] = path
        return path

    def timeline(
        self, key: int, memo: dict[int, list[tuple[str, str, Path]]] | None = None
    ) -> list[tuple[str, str, Path]]:
        """The organization's path intervals over its lifetime: (valid_from, valid_to, path)."""
        memo = {} if memo is None else memo
        if key in memo:
            return memo[key]
        node = self.nodes[key]
        end = node.ended_on or OPEN_END
        days = {node.founded_on}
        for valid_from, _, parent in node.parents:
            days.add(valid_from)
            if parent is not None:
                days.update(start for start, _, _ in self.timeline(parent, memo))
        starts = sorted(d for d in days if node.founded_on <= d < end)
        segments: list[tuple[str, str, Path]] = []
        for i, start in enumerate(starts):
            stop = starts[i + 1] if i + 1 < len(starts) else end
            path = self.path_at(key, start)
            if segments and segments[-1][2] == path:
                segments[-1] = (segments[-1][0], stop, path)
            else:
                segments.append((start, stop, path))
        memo[key] = segments
        return segments

    def subtree_ever(self, key: int, since: str) -> set[int]:
        """Every organization under `key` at some day from `since` on, and `key` itself."""
        found = {key}
        stack = [key]
        while stack:
            current = stack.pop()
            for child in self.children_ever.get(current, ()):
                if child in found:
                    continue
                if any(p == current and valid_to > since for _, valid_to, p in self.nodes[child].parents):
                    found.add(child)
                    stack.append(child)
        return found

    def write_paths(self, cur: Cursor, keys: set[int]) -> None:
        """Rewrite the path intervals of these organizations (after a change to the tree)."""
        keys_list = sorted(keys)
        for i in range(0, len(keys_list), 500):
            chunk = keys_list[i : i + 500]
            cur.execute(f"DELETE FROM rm_org_path WHERE org_key IN ({','.join('?' * len(chunk))})", chunk)
        rows = []
        memo: dict[int, list[tuple[str, str, Path]]] = {}
        for key in keys_list:
            kind = self.nodes[key].kind
            for valid_from, valid_to, path in self.timeline(key, memo):
                rows.append((key, valid_from, valid_to, path_text(path), kind))
        cur.executemany(
            "INSERT INTO rm_org_path (org_key, valid_from, valid_to, path, kind) VALUES (?, ?, ?, ?, ?)", rows
        )

    def write_parents(self, cur: Cursor, key: int) -> None:
        """Rewrite the parent intervals of one organization."""
        cur.execute("DELETE FROM rm_org_parent WHERE org_key = ?", (key,))
        cur.executemany(
            "INSERT INTO rm_org_parent (org_key, valid_from, valid_to, parent_key) VALUES (?, ?, ?, ?)",
            [(key, a, b, p) for a, b, p in self.nodes[key].parents],
        )
