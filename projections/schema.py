"""The tables of the read models. Every one of them can be dropped and rebuilt from the events.

Dates are ISO text; an open interval ends on 9999-12-31. Paths are the keys of an organization's
ancestors and itself, as `/1/7/42/`, so "the subtree of X on day D" is one range scan on the
path index: `path >= '/1/7/' AND path < '/1/70'` ('0' is the character after '/').
"""

from __future__ import annotations

# Report measures kept per organization and period bucket. Flows are what Form 1 counts; the
# organization counts are changes to the number of organizations; `new_*` break admissions down
# as Form 2 does. The order is the column order.
FLOWS = (
    "admitted",
    "transferred_in",
    "restored",
    "deceased",
    "expelled",
    "delisted",
    "delisted_probationary",
    "voluntary_exit",
    "transferred_out",
    "confirmed",
)
ORGANIZATION_COUNTS = ("grassroots_committees", "grassroots_cells", "cells_under_committees")
# The kind of organization each organization count counts (cells here: cells under a committee).
ORGANIZATION_MEASURE = {
    "grassroots_committee": "grassroots_committees",
    "grassroots_cell": "grassroots_cells",
    "cell": "cells_under_committees",
}
# Organizations whose flows are also kept by year: those above grassroots, where every month has
# facts, so that an opening balance sums a few dozen years rather than every month since 1930.
# Below them an organization has rows only for the days and months it had facts in.
YEARLY_KINDS = frozenset({"central", "provincial", "upper_grassroots"})
AGE_BANDS = ("18-30", "31-35", "36-40", "41-45", "46-50", "51-55", "56-60", "over_60")
EDUCATION = ("primary", "lower_secondary", "upper_secondary", "unknown")
PROFESSIONAL_LEVELS = ("none", "vocational", "college", "university", "master", "doctorate", "unknown")
POLITICAL_THEORY = ("none", "elementary", "intermediate", "advanced", "unknown")
OCCUPATIONS = (
    "civil_servant",
    "public_employee",
    "state_enterprise",
    "non_state_enterprise",
    "farmer",
    "armed_forces",
    "student",
    "other",
    "unknown",
)
NEW_MEMBERS = (
    ("new_women", "new_ethnic_minority", "new_religious", "new_youth_union")
    + tuple(f"age_{band}" for band in AGE_BANDS)
    + tuple(f"education_{v}" for v in EDUCATION)
    + tuple(f"professional_{v}" for v in PROFESSIONAL_LEVELS)
    + tuple(f"theory_{v}" for v in POLITICAL_THEORY)
    + tuple(f"occupation_{v}" for v in OCCUPATIONS)
)
MEASURES = FLOWS + ORGANIZATION_COUNTS + NEW_MEMBERS
MEASURE_INDEX = {name: i for i, name in enumerate(MEASURES)}


def column(measure: str) -> str:
    """The SQL column of a measure (band names hold dashes)."""
    return "m_" + measure.replace("-", "_")


MEASURE_COLUMNS = tuple(column(m) for m in MEASURES)


# The version of the read models' shape and meaning. Change it with any change to what the tables
# hold: read models of another version are dropped and made again from the events at start.
VERSION = 4


def statements(postgres: bool) -> list[str]:
    """CREATE statements for every read-model table, idempotent."""
    text_c = 'TEXT COLLATE "C"' if postgres else "TEXT"
    big = "BIGINT" if postgres else "INTEGER"
    measures = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in MEASURE_COLUMNS)
    return [
        "CREATE TABLE IF NOT EXISTS rm_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # The tree.
        f"""CREATE TABLE IF NOT EXISTS rm_org (
            org_key INTEGER PRIMARY KEY, code {text_c} NOT NULL UNIQUE, stream_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL, founded_on TEXT NOT NULL, ended_on TEXT, status TEXT NOT NULL,
            successor TEXT)""",
        """CREATE TABLE IF NOT EXISTS rm_org_name (
            org_key INTEGER NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, name TEXT NOT NULL,
            PRIMARY KEY (org_key, valid_from))""",
        """CREATE TABLE IF NOT EXISTS rm_org_parent (
            org_key INTEGER NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, parent_key INTEGER,
            PRIMARY KEY (org_key, valid_from))""",
        "CREATE INDEX IF NOT EXISTS rm_org_parent_by_parent ON rm_org_parent (parent_key, valid_from)",
        f"""CREATE TABLE IF NOT EXISTS rm_org_path (
            org_key INTEGER NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL,
            path {text_c} NOT NULL, kind TEXT NOT NULL,
            PRIMARY KEY (org_key, valid_from))""",
        "CREATE INDEX IF NOT EXISTS rm_org_path_by_path ON rm_org_path (path, valid_from)",
        """CREATE TABLE IF NOT EXISTS rm_plan (
            org_key INTEGER NOT NULL, period TEXT NOT NULL, admissions INTEGER NOT NULL,
            PRIMARY KEY (org_key, period))""",
        # Members and rosters.
        """CREATE TABLE IF NOT EXISTS rm_member (
            member_id TEXT PRIMARY KEY, national_id TEXT NOT NULL, person TEXT NOT NULL,
            full_name TEXT NOT NULL, cell_key INTEGER NOT NULL, membership INTEGER NOT NULL,
            joined_on TEXT NOT NULL, admitted_on TEXT NOT NULL, probation_ends_on TEXT NOT NULL,
            official_since TEXT, removed_on TEXT, removal_reason TEXT, transfer TEXT)""",
        "CREATE INDEX IF NOT EXISTS rm_member_by_national_id ON rm_member (national_id)",
        """CREATE TABLE IF NOT EXISTS rm_stay (
            member_id TEXT NOT NULL, seq INTEGER NOT NULL, cell_key INTEGER NOT NULL,
            valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, membership INTEGER NOT NULL,
            full_name TEXT NOT NULL, admitted_on TEXT NOT NULL, official_since TEXT,
            PRIMARY KEY (member_id, seq))""",
        "CREATE INDEX IF NOT EXISTS rm_stay_by_cell ON rm_stay (cell_key, valid_from)",
        """CREATE TABLE IF NOT EXISTS rm_transit (
            member_id TEXT NOT NULL, transfer_id TEXT NOT NULL, cell_key INTEGER NOT NULL,
            valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, PRIMARY KEY (transfer_id, cell_key))""",
        "CREATE INDEX IF NOT EXISTS rm_transit_by_member ON rm_transit (member_id)",
        """CREATE TABLE IF NOT EXISTS rm_guest (
            transfer_id TEXT NOT NULL, member_id TEXT NOT NULL, host_key INTEGER NOT NULL,
            home_key INTEGER NOT NULL, full_name TEXT NOT NULL, valid_from TEXT NOT NULL,
            valid_to TEXT NOT NULL, until TEXT NOT NULL, PRIMARY KEY (transfer_id, host_key))""",
        "CREATE INDEX IF NOT EXISTS rm_guest_by_host ON rm_guest (host_key, valid_from)",
        # The audit index: which events concern which organization and member.
        f"""CREATE TABLE IF NOT EXISTS rm_event (
            position {big} PRIMARY KEY, org_key INTEGER NOT NULL, type TEXT NOT NULL,
            effective_on TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_event_by_org ON rm_event (org_key, position)",
        # A member's timeline: every event about them, a merger's or a split's included.
        f"""CREATE TABLE IF NOT EXISTS rm_event_member (
            member_id TEXT NOT NULL, position {big} NOT NULL, PRIMARY KEY (member_id, position))""",
        # Reports: facts, their attribution to every ancestor, and structural moves.
        f"""CREATE TABLE IF NOT EXISTS rm_fact (
            fact_id {big} PRIMARY KEY, position {big} NOT NULL, day TEXT NOT NULL, kind TEXT NOT NULL,
            node_key INTEGER, src_key INTEGER, dst_key INTEGER, k INTEGER NOT NULL, measures TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_fact_by_src ON rm_fact (src_key, day)",
        "CREATE INDEX IF NOT EXISTS rm_fact_by_dst ON rm_fact (dst_key, day)",
        "CREATE INDEX IF NOT EXISTS rm_fact_by_node ON rm_fact (node_key, day)",
        f"""CREATE TABLE IF NOT EXISTS rm_flow (
            org_key INTEGER NOT NULL, grain TEXT NOT NULL, bucket TEXT NOT NULL, {measures},
            PRIMARY KEY (org_key, grain, bucket))""",
        f"""CREATE TABLE IF NOT EXISTS rm_move_side (
            org_key INTEGER NOT NULL, fact_id {big} NOT NULL, day TEXT NOT NULL, node_key INTEGER NOT NULL,
            sign INTEGER NOT NULL, PRIMARY KEY (org_key, fact_id))""",
        "CREATE INDEX IF NOT EXISTS rm_move_side_by_fact ON rm_move_side (fact_id)",
        # What each move of an organization carried: its subtree's headcount and organizations the
        # day before the move, kept up to date as facts recorded later change that day's figures.
        f"""CREATE TABLE IF NOT EXISTS rm_carried (
            fact_id {big} PRIMARY KEY, headcount INTEGER NOT NULL,
            grassroots_committees INTEGER NOT NULL, grassroots_cells INTEGER NOT NULL,
            cells_under_committees INTEGER NOT NULL)""",
    ]


TABLES = (
    "rm_org",
    "rm_org_name",
    "rm_org_parent",
    "rm_org_path",
    "rm_plan",
    "rm_member",
    "rm_stay",
    "rm_transit",
    "rm_guest",
    "rm_event",
    "rm_event_member",
    "rm_fact",
    "rm_flow",
    "rm_move_side",
    "rm_carried",
)
