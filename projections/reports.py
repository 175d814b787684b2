"""Form 1 and Form 2 reports over any period, for any organization's subtree.

A report reads the flows attributed to the organization (and to each of its children) from day
and month buckets: its cost grows with the number of organizations in the answer and with the
months in the period, not with the size of the history. Moves of whole organizations into or
out of the subtree are counted as transfers, with the headcount each move carried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from domain.values import Period, add_months
from projections import schema
from projections.db import Cursor
from projections.tree import subtree_range

INCREASES = ("admitted", "transferred_in", "restored")
DECREASES = ("deceased", "expelled", "delisted", "voluntary_exit", "transferred_out")
DECREASE_DETAIL = ("deceased", "expelled", "delisted", "delisted_probationary", "voluntary_exit", "transferred_out")


def _month_end(day: date) -> date:
    return add_months(day.replace(day=1), 1) - timedelta(days=1)


ONE_DAY = timedelta(days=1)
Range = tuple[str, str, str]  # (grain, first bucket, last bucket), inclusive


def bucket_ranges(start: date, end: date, years: bool) -> list[Range]:
    """The fewest buckets covering exactly the days from `start` to `end`, inclusive: whole years
    (where the organization keeps them), then whole months, then single days at the edges."""
    if end < start:
        return []
    if years:
        first = start if (start.month, start.day) == (1, 1) else date(start.year + 1, 1, 1)
        last = end if (end.month, end.day) == (12, 31) else date(end.year - 1, 12, 31)
        if first <= last:
            return [
                *bucket_ranges(start, first - ONE_DAY, False),
                ("y", str(first.year), str(last.year)),
                *bucket_ranges(last + ONE_DAY, end, False),
            ]
    first = start if start.day == 1 else add_months(start.replace(day=1), 1)
    last = end if end == _month_end(end) else end.replace(day=1) - ONE_DAY
    if first > last:
        return [("d", start.isoformat(), end.isoformat())]
    edges = [("d", start.isoformat(), (first - ONE_DAY).isoformat())] if start < first else []
    if end > last:
        edges.append(("d", (last + ONE_DAY).isoformat(), end.isoformat()))
    return [("m", first.isoformat()[:7], last.isoformat()[:7]), *edges]


def bucket_condition(start: date, end: date, years: bool = False) -> tuple[str, list[str]]:
    """SQL selecting exactly the buckets that cover the days from `start` to `end`, inclusive."""
    ranges = bucket_ranges(start, end, years)
    if not ranges:
        return "1 = 0", []
    condition = " OR ".join("(grain = ? AND bucket >= ? AND bucket <= ?)" for _ in ranges)
    return f"({condition})", [value for r in ranges for value in r]


EPOCH = date(1930, 1, 1)  # The Party was founded on 3 February 1930: nothing is recorded before.
# What an opening balance needs of the flows before a period: the headcount and the organizations.
BALANCE_MEASURES = INCREASES + DECREASES + schema.ORGANIZATION_COUNTS


def yearly(cur: Cursor, keys: Sequence[int]) -> set[int]:
    """Those of the organizations whose flows are kept by year as well."""
    if not keys:
        return set()
    kinds = ",".join("?" * len(schema.YEARLY_KINDS))
    return {
        key
        for (key,) in cur.execute(
            f"SELECT org_key FROM rm_org WHERE org_key IN ({','.join('?' * len(keys))}) AND kind IN ({kinds})",
            [*keys, *sorted(schema.YEARLY_KINDS)],
        ).all()
    }


def sum_flows(
    cur: Cursor, keys: Sequence[int], start: date, end: date, measures: Sequence[str] = schema.MEASURES
) -> dict[int, list[int]]:
    """The measures of each organization, summed over the days from `start` to `end` (measures
    not asked for are left at 0)."""
    totals = {key: [0] * len(schema.MEASURES) for key in keys}
    if not keys:
        return totals
    by_year = yearly(cur, keys)
    groups = [(sorted(by_year), True), (sorted(set(keys) - by_year), False)]
    conditions, params = [], []
    for group, years in groups:
        if group:
            condition, bounds = bucket_condition(start, end, years)
            conditions.append(f"(org_key IN ({','.join('?' * len(group))}) AND {condition})")
            params += [*group, *bounds]
    sums = ", ".join(f"SUM({schema.column(m)})" for m in measures)
    rows = cur.execute(
        f"SELECT org_key, {sums} FROM rm_flow WHERE {' OR '.join(conditions)} GROUP BY org_key", params
    ).all()
    index = [schema.MEASURE_INDEX[m] for m in measures]
    for row in rows:
        vector = totals[row[0]]
        for i, value in zip(index, row[1:]):
            vector[i] = int(value or 0)
    return totals


@dataclass
class Move:
    """A whole organization moving into (+1) or out of (-1) a subtree on a day."""

    day: date
    node: int
    sign: int
    headcount: int
    organizations: dict[str, int]


def _path_on(cur: Cursor, key: int, day: str) -> str | None:
    row = cur.execute(
        "SELECT path FROM rm_org_path WHERE org_key = ? AND valid_from <= ? ORDER BY valid_from DESC LIMIT 1",
        (key, day),
    ).one()
    return row[0] if row else None


def headcount_of_subtree(cur: Cursor, path: str, day: str) -> int:
    """Members on the rosters of every cell under `path` at the end of `day`."""
    lo, hi = path, path[:-1] + "0"
    return int(
        cur.execute(
            "SELECT COUNT(*) FROM rm_org_path p JOIN rm_stay s ON s.cell_key = p.org_key "
            "WHERE p.path >= ? AND p.path < ? AND p.valid_from <= ? AND ? < p.valid_to "
            "AND s.valid_from <= ? AND ? < s.valid_to",
            (lo, hi, day, day, day, day),
        ).scalar()
        or 0
    )


def organizations_of_subtree(cur: Cursor, path: str, day: str) -> dict[str, int]:
    """Grassroots committees, grassroots cells and cells under `path` on `day`."""
    lo, hi = path, path[:-1] + "0"
    counts = dict.fromkeys(schema.ORGANIZATION_COUNTS, 0)
    for kind, n in cur.execute(
        "SELECT kind, COUNT(*) FROM rm_org_path WHERE path >= ? AND path < ? AND valid_from <= ? "
        "AND ? < valid_to GROUP BY kind",
        (lo, hi, day, day),
    ).all():
        measure = schema.ORGANIZATION_MEASURE.get(kind)
        if measure:
            counts[measure] += int(n)
    return counts


def carried(cur: Cursor, node: int, day: str) -> tuple[int, dict[str, int]]:
    """What a move of `node` on `day` carried: its subtree's headcount and organizations the day before."""
    before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    path = _path_on(cur, node, before)
    if path is None:
        return 0, dict.fromkeys(schema.ORGANIZATION_COUNTS, 0)
    return headcount_of_subtree(cur, path, before), organizations_of_subtree(cur, path, before)


def moves(cur: Cursor, keys: Sequence[int], end: date) -> dict[int, list[Move]]:
    """Every move of an organization into or out of each subtree, up to `end`, with what it carried."""
    found: dict[int, list[Move]] = {key: [] for key in keys}
    if not keys:
        return found
    rows = cur.execute(
        "SELECT s.org_key, s.day, s.node_key, s.sign, c.headcount, "
        f"{', '.join('c.' + m for m in schema.ORGANIZATION_COUNTS)} "
        "FROM rm_move_side s JOIN rm_carried c ON c.fact_id = s.fact_id "
        f"WHERE s.org_key IN ({','.join('?' * len(keys))}) AND s.day <= ? ORDER BY s.day",
        [*keys, end.isoformat()],
    ).all()
    for org, day, node, sign, headcount, *organizations in rows:
        counts = dict(zip(schema.ORGANIZATION_COUNTS, organizations))
        found[org].append(Move(date.fromisoformat(day), node, sign, headcount, counts))
    return found


def _net(vector: list[int]) -> int:
    index = schema.MEASURE_INDEX
    return sum(vector[index[m]] for m in INCREASES) - sum(vector[index[m]] for m in DECREASES)


def figures(cur: Cursor, keys: Sequence[int], start: date, end: date) -> dict[int, dict[str, Any]]:
    """Form 1 and Form 2 figures of each organization's subtree from `start` to `end`."""
    index = schema.MEASURE_INDEX
    before = sum_flows(cur, keys, EPOCH, start - timedelta(days=1), BALANCE_MEASURES)
    during = sum_flows(cur, keys, start, end)
    moved = moves(cur, keys, end)
    result: dict[int, dict[str, Any]] = {}
    for key in keys:
        past, now = before[key], during[key]
        opening = _net(past)
        organizations = {m: past[index[m]] + now[index[m]] for m in schema.ORGANIZATION_COUNTS}
        moved_in = moved_out = 0
        for move in moved[key]:
            for m in schema.ORGANIZATION_COUNTS:
                organizations[m] += move.sign * move.organizations[m]
            if move.day < start:
                opening += move.sign * move.headcount
            elif move.sign > 0:
                moved_in += move.headcount
            else:
                moved_out += move.headcount
        result[key] = _shape(now, opening, moved_in, moved_out)
        result[key]["organizations"] = organizations
    return result


def plans(cur: Cursor, keys: Sequence[int], period: Period) -> dict[int, int]:
    """The admissions target of each organization for the period, where one was set."""
    if not keys:
        return {}
    rows = cur.execute(
        f"SELECT org_key, admissions FROM rm_plan WHERE period = ? AND org_key IN ({','.join('?' * len(keys))})",
        [str(period), *keys],
    ).all()
    return {key: admissions for key, admissions in rows}


def children_during(cur: Cursor, key: int, start: date, end: date) -> list[tuple[int, str]]:
    """Direct children of the organization at any time within the period: (key, code)."""
    return [
        (k, code)
        for k, code in cur.execute(
            "SELECT DISTINCT o.org_key, o.code FROM rm_org_parent p JOIN rm_org o ON o.org_key = p.org_key "
            "WHERE p.parent_key = ? AND p.valid_from <= ? AND p.valid_to > ? AND p.valid_from < p.valid_to "
            "ORDER BY o.code",
            (key, end.isoformat(), start.isoformat()),
        ).all()
    ]


def against_plan(start: date, end: date, period: Period, target: int | None, found: dict[str, Any]) -> dict[str, Any]:
    """A period's figures with its dates, its plan and the admissions as a share of the plan."""
    admitted = found["admitted"]
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "plan": {"period": str(period), "admissions": target} if target is not None else None,
        "admitted": admitted,
        "achievement_pct": round(100 * admitted / target, 1) if target else None,
        **{name: value for name, value in found.items() if name != "admitted"},
    }


def same_period_last_year(start: date, end: date) -> tuple[date, date, Period]:
    """The same period one year earlier, and the plan period it is measured against."""
    last_start, last_end = add_months(start, -12), add_months(end, -12)
    return last_start, last_end, Period.covering(last_start, last_end)


def report(cur: Cursor, key: int, code: str, start: date, end: date) -> dict[str, Any]:
    """The report of API.md for an organization and its direct children, each beside the same
    period of the previous year (figures and plan)."""
    period = Period.covering(start, end)
    children = children_during(cur, key, start, end)
    keys = [key] + [k for k, _ in children]
    now, targets = figures(cur, keys, start, end), plans(cur, keys, period)
    last_start, last_end, last_period = same_period_last_year(start, end)
    last, last_targets = figures(cur, keys, last_start, last_end), plans(cur, keys, last_period)

    def shaped(k: int, c: str) -> dict[str, Any]:
        return {
            "organization": c,
            **against_plan(start, end, period, targets.get(k), now[k]),
            "previous_year": against_plan(last_start, last_end, last_period, last_targets.get(k), last[k]),
        }

    body = shaped(key, code)
    body["children"] = [shaped(k, c) for k, c in children]
    return body


def subtree_bounds(path: str) -> tuple[str, str]:
    """Range of paths inside a subtree, from a stored path text."""
    keys = tuple(int(k) for k in path.strip("/").split("/"))
    return subtree_range(keys)


# --- restated onto today's organizations ------------------------------------------------------------


def _chunks(keys: Sequence[int], size: int = 500) -> list[list[int]]:
    ordered = sorted(keys)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def successors_today(cur: Cursor, today: str) -> dict[int, int]:
    """Each organization that no longer exists, mapped to the organization that carries its history.

    A merged unit is carried by the unit it merged into; a split or dissolved one by its last parent.
    """
    ended = {
        key: (successor, parent)
        for key, successor, parent in cur.execute(
            "SELECT o.org_key, s.org_key, "
            "(SELECT p.parent_key FROM rm_org_parent p WHERE p.org_key = o.org_key ORDER BY p.valid_from DESC LIMIT 1) "
            "FROM rm_org o LEFT JOIN rm_org s ON s.code = o.successor "
            "WHERE o.ended_on IS NOT NULL AND o.ended_on <= ?",
            (today,),
        ).all()
    }
    carried: dict[int, int] = {}
    for key in ended:
        current, seen = key, set()
        while current in ended and current not in seen:
            seen.add(current)
            successor, parent = ended[current]
            current = successor if successor is not None else parent
        if current is not None and current not in ended:
            carried[key] = current
    return carried


def restated_members(cur: Cursor, key: int, today: str) -> set[int]:
    """Every organization whose history today's subtree of `key` carries."""
    path = cur.execute(
        "SELECT path FROM rm_org_path WHERE org_key = ? AND valid_from <= ? AND ? < valid_to", (key, today, today)
    ).scalar()
    if path is None:
        return set()
    lo, hi = subtree_bounds(path)
    active = {
        k
        for (k,) in cur.execute(
            "SELECT org_key FROM rm_org_path WHERE path >= ? AND path < ? AND valid_from <= ? AND ? < valid_to",
            (lo, hi, today, today),
        ).all()
    }
    return active | {k for k, carrier in successors_today(cur, today).items() if carrier in active}


def _headcount_of(cur: Cursor, keys: set[int], day: str) -> int:
    total = 0
    for chunk in _chunks(list(keys)):
        total += int(
            cur.execute(
                f"SELECT COUNT(*) FROM rm_stay WHERE cell_key IN ({','.join('?' * len(chunk))}) "
                "AND valid_from <= ? AND ? < valid_to",
                [*chunk, day, day],
            ).scalar()
            or 0
        )
    return total


def restated_figures(cur: Cursor, keys: set[int], start: date, end: date) -> dict[str, Any]:
    """Figures of the organizations whose history today's unit carries, as if it had always been one."""
    index = schema.MEASURE_INDEX
    totals = [0] * len(schema.MEASURES)
    facts: dict[int, tuple[Any, ...]] = {}
    for chunk in _chunks(list(keys)):
        marks = ",".join("?" * len(chunk))
        for row in cur.execute(
            "SELECT fact_id, kind, node_key, src_key, dst_key, k, measures FROM rm_fact WHERE day >= ? AND day <= ? "
            f"AND kind <> 'move' AND (node_key IN ({marks}) OR src_key IN ({marks}) OR dst_key IN ({marks}))",
            [start.isoformat(), end.isoformat(), *chunk, *chunk, *chunk],
        ).all():
            facts[row[0]] = row
    for _, kind, node, src, dst, k, measures in facts.values():
        if kind == "at":
            for measure in measures.split(","):
                if measure and measure not in schema.ORGANIZATION_COUNTS:
                    totals[index[measure]] += k
        elif (src in keys) != (dst in keys):
            totals[index["transferred_in" if dst in keys else "transferred_out"]] += k
    opening = _headcount_of(cur, keys, (start - timedelta(days=1)).isoformat())
    organizations = dict.fromkeys(schema.ORGANIZATION_COUNTS, 0)
    for chunk in _chunks(list(keys)):
        for kind, n in cur.execute(
            f"SELECT kind, COUNT(*) FROM rm_org_path WHERE org_key IN ({','.join('?' * len(chunk))}) "
            "AND valid_from <= ? AND ? < valid_to GROUP BY kind",
            [*chunk, end.isoformat(), end.isoformat()],
        ).all():
            measure = schema.ORGANIZATION_MEASURE.get(kind)
            if measure:
                organizations[measure] += int(n)
    for measure in schema.ORGANIZATION_COUNTS:
        totals[index[measure]] = 0
    body = _shape(totals, opening, 0, 0)
    body["organizations"] = organizations
    return body


def _shape(now: list[int], opening: int, moved_in: int, moved_out: int) -> dict[str, Any]:
    """Form 1 and Form 2 figures from summed measures, an opening balance and whole-unit moves."""
    index = schema.MEASURE_INDEX
    increases = {
        "admitted": now[index["admitted"]],
        "transferred_in": now[index["transferred_in"]] + moved_in,
        "restored": now[index["restored"]],
    }
    decreases = {m: now[index[m]] for m in DECREASE_DETAIL}
    decreases["transferred_out"] += moved_out
    closing = opening + sum(increases.values()) - sum(v for m, v in decreases.items() if m != "delisted_probationary")

    def group(prefix: str, values: Sequence[str]) -> dict[str, int]:
        return {v: now[index[f"{prefix}_{v}"]] for v in values}

    return {
        "admitted": increases["admitted"],
        "opening": opening,
        "increases": increases,
        "decreases": decreases,
        "closing": closing,
        "confirmed": now[index["confirmed"]],
        "new_members": {
            "total": increases["admitted"],
            "women": now[index["new_women"]],
            "ethnic_minority": now[index["new_ethnic_minority"]],
            "religious": now[index["new_religious"]],
            "youth_union": now[index["new_youth_union"]],
            "age_bands": group("age", schema.AGE_BANDS),
            "education": group("education", schema.EDUCATION),
            "professional_level": group("professional", schema.PROFESSIONAL_LEVELS),
            "political_theory": group("theory", schema.POLITICAL_THEORY),
            "occupation": group("occupation", schema.OCCUPATIONS),
        },
    }


def restated_report(cur: Cursor, key: int, code: str, start: date, end: date, today: date) -> dict[str, Any]:
    """The report with all history restated onto today's organizations (mergers carried forward)."""
    period = Period.covering(start, end)
    day = today.isoformat()
    children = [
        (k, c)
        for k, c in cur.execute(
            "SELECT o.org_key, o.code FROM rm_org_parent p JOIN rm_org o ON o.org_key = p.org_key "
            "WHERE p.parent_key = ? AND p.valid_from <= ? AND ? < p.valid_to ORDER BY o.code",
            (key, day, day),
        ).all()
    ]
    units = {k: restated_members(cur, k, day) for k in [key] + [k for k, _ in children]}
    targets = plans(cur, list(units), period)
    last_start, last_end, last_period = same_period_last_year(start, end)
    last_targets = plans(cur, list(units), last_period)

    def shaped(k: int, c: str) -> dict[str, Any]:
        now = restated_figures(cur, units[k], start, end)
        last = restated_figures(cur, units[k], last_start, last_end)
        return {
            "organization": c,
            **against_plan(start, end, period, targets.get(k), now),
            "previous_year": against_plan(last_start, last_end, last_period, last_targets.get(k), last),
        }

    body = shaped(key, code)
    body["children"] = [shaped(k, c) for k, c in children]
    return body
