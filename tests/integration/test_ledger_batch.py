"""Batches: many commands saved in one transaction, each still checked against the Charter."""

from __future__ import annotations

from datetime import date

import pytest
from eventsourcing.application import Repository
from eventsourcing.persistence import IntegrityError

from domain import errors
from domain.ledger import Ledger
from domain.values import Kind, TransferKind
from service.recorder import COPY_FROM
from tests.builders import CLERK, Tree, admit, decision, found, person, stream
from tests.ledger_env import ledger_env


def test_a_batch_saves_its_commands_in_the_order_they_were_recorded(ledger: Ledger, tree: Tree) -> None:
    """Nothing is stored until the batch ends; then every event is there, in command order."""
    before = ledger.recorder.max_notification_id()
    with ledger.batch():
        first, _ = admit(ledger, tree.cell_a)
        issued = ledger.issue_transfer(tree.cell_a, first.member_id, tree.cell_b, TransferKind.OFFICIAL,
                                       date(2022, 5, 1), None, decision(date(2022, 5, 1)), CLERK)
        ledger.receive_transfer(tree.cell_b, issued.transfer_id, date(2022, 5, 10), CLERK)
        assert ledger.recorder.max_notification_id() == before
    notifications = ledger.recorder.select_notifications(start=before, limit=100, inclusive_of_start=False)
    topics = [n.topic.rsplit(".", 1)[-1] for n in notifications]
    assert topics == ["MemberAdmitted", "Registered", "TransferIssued", "TransferAnnounced",
                      "MemberTransferredOut", "MemberTransferredIn", "Moved"]
    assert str(first.member_id) in ledger.organization(tree.cell_b).members


def test_a_command_refused_inside_a_batch_leaves_no_trace(ledger: Ledger, tree: Tree) -> None:
    """A merger that fails half-way (the target keeps no roster) does not end the source."""
    admitted, _ = admit(ledger, tree.cell_a)
    with ledger.batch():
        admit(ledger, tree.cell_b)
        with pytest.raises(errors.HoldsNoMembers):
            ledger.merge_organization(tree.cell_a, tree.committee, date(2024, 1, 1), decision(), CLERK)
        ledger.confirm_membership(tree.cell_a, admitted.member_id, date(2022, 6, 1), decision(date(2022, 6, 1)), CLERK)
    source = ledger.organization(tree.cell_a)
    assert source.is_active
    assert source.members[str(admitted.member_id)].official_since is not None
    assert [type(e).__name__ for e in stream(ledger, tree.cell_a)][-1] == "MembershipConfirmed"
    assert len(ledger.organization(tree.cell_b).members) == 1


def test_the_charter_holds_across_commands_of_one_batch(ledger: Ledger, tree: Tree) -> None:
    """The same person cannot be admitted twice, even before the batch is saved."""
    candidate = person()
    with ledger.batch():
        ledger.admit(tree.cell_a, candidate, date(2022, 3, 15), decision(), CLERK)
        with pytest.raises(errors.AlreadyAMember):
            ledger.admit(tree.cell_b, candidate, date(2022, 3, 15), decision(), CLERK)
    assert ledger.person(candidate.national_id).organization == tree.cell_a


def test_a_batch_whose_block_fails_records_nothing(ledger: Ledger, tree: Tree) -> None:
    """An error that is not the Charter's (a bad import file, say) drops the unsaved batch."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(RuntimeError), ledger.batch():
        new = found(ledger, "HN.BADINH.KDC9", "Chi bộ khu dân cư số 9", Kind.GRASSROOTS_CELL, tree.commune)
        admit(ledger, new)
        raise RuntimeError("line 12 of the roster is unreadable")
    assert ledger.recorder.max_notification_id() == before


def test_flushing_along_the_way_stores_what_came_before(ledger: Ledger, tree: Tree) -> None:
    """`flush` saves the commands so far and returns the last position."""
    with pytest.raises(RuntimeError), ledger.batch():
        admitted, _ = admit(ledger, tree.cell_a)
        position = ledger.flush()
        admit(ledger, tree.cell_a)
        raise RuntimeError("stopped")
    assert ledger.recorder.max_notification_id() == position
    assert list(ledger.organization(tree.cell_a).members) == [str(admitted.member_id)]


def test_a_batch_snapshots_a_busy_stream_once_from_memory_and_it_loads_like_a_replay(
    ledger: Ledger, tree: Tree
) -> None:
    """Sixty admissions in batches of ten leave one snapshot of the cell at its last version, and
    the cell loaded from it equals the cell replayed from its events."""
    with ledger.batch():
        for _ in range(6):
            for _ in range(10):
                admit(ledger, tree.cell_a)
            ledger.flush()
    cell_id = ledger.organization(tree.cell_a).id
    assert ledger.snapshots is not None
    snapshots = list(ledger.snapshots.get(cell_id))
    assert [s.originator_version for s in snapshots] == [ledger.organization(tree.cell_a).version]
    from_snapshot = Repository(ledger.events, snapshot_store=ledger.snapshots).get(cell_id)
    replayed = Repository(ledger.events).get(cell_id)
    assert (from_snapshot.version, from_snapshot.members) == (replayed.version, replayed.members)
    assert len(replayed.members) == 60


def test_people_known_new_to_a_batch_are_still_checked_against_earlier_batches(
    ledger: Ledger, tree: Tree
) -> None:
    """Prefetching which people are new asks the store: one admitted in an earlier batch is found."""
    candidate = person()
    with ledger.batch():
        ledger.admit(tree.cell_a, candidate, date(2022, 3, 15), decision(), CLERK)
    with ledger.batch():
        ledger.prefetch_people([candidate.national_id, person().national_id])
        with pytest.raises(errors.AlreadyAMember):
            ledger.admit(tree.cell_b, candidate, date(2022, 3, 15), decision(), CLERK)
    assert ledger.person(candidate.national_id).organization == tree.cell_a


def test_a_large_batch_gets_the_positions_the_store_gave_its_events(ledger: Ledger, tree: Tree) -> None:
    """A batch past the bulk-write threshold (copied, on PostgreSQL) reports the last position of
    the log, and every event is in the log in command order under consecutive positions."""
    before = ledger.recorder.max_notification_id() or 0
    with ledger.batch():
        admitted = [admit(ledger, tree.cell_a)[0] for _ in range(COPY_FROM)]
        position = ledger.flush()
    assert position == ledger.recorder.max_notification_id() == before + 2 * COPY_FROM
    notifications = ledger.recorder.select_notifications(start=before, limit=3 * COPY_FROM, inclusive_of_start=False)
    assert [n.id for n in notifications] == list(range(before + 1, position + 1))
    cell = ledger.organization(tree.cell_a)
    admissions = [ledger.mapper.to_domain_event(n) for n in notifications if n.originator_id == cell.id]
    assert [e.member_id for e in admissions] == [a.member_id for a in admitted]


def test_a_large_batch_that_collides_with_another_writer_records_nothing(
    ledger: Ledger, tree: Tree, database_url: str
) -> None:
    """When another writer saved one of the batch's streams first, the whole batch is refused
    as a conflict and none of its events is stored."""
    with pytest.raises(IntegrityError), ledger.batch():
        for _ in range(COPY_FROM):
            admit(ledger, tree.cell_b)
        before = ledger.recorder.max_notification_id()
        other = Ledger(ledger_env(database_url))
        try:
            admit(other, tree.cell_b)
        finally:
            other.close()
    assert ledger.recorder.max_notification_id() == before + 2


def test_a_batch_writes_its_snapshots_a_few_at_a_time_and_writes_them_all(
    ledger: Ledger, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the end of a national import every busy stream is snapshotted at once: one write of them
    all passed PostgreSQL's message limit, so they are written SNAPSHOTS_PER_WRITE at a time
    (here one), and none is left out."""
    monkeypatch.setattr("domain.ledger.SNAPSHOTS_PER_WRITE", 1)
    assert ledger.snapshots is not None
    writes: list[int] = []
    put = ledger.snapshots.put
    monkeypatch.setattr(ledger.snapshots, "put", lambda events, **kw: (writes.append(len(events)), put(events, **kw))[1])
    with ledger.batch():
        for cell in (tree.cell_a, tree.cell_b):
            for _ in range(50):
                admit(ledger, cell)
    assert writes == [1, 1]
    for cell in (tree.cell_a, tree.cell_b):
        organization = ledger.organization(cell)
        assert [s.originator_version for s in ledger.snapshots.get(organization.id)] == [organization.version]


def test_a_single_command_snapshots_a_busy_stream_from_memory_without_reading_it_back(
    ledger: Ledger, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a batch, the command that brings a cell to a multiple of the interval snapshots it
    from the state it just saved (the library would load the stream again, inside the request),
    and the cell loaded from that snapshot equals the cell replayed from its events."""
    get = ledger.repository.get
    read_back: list[int] = []

    def watched_get(aggregate_id, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("version") is not None:
            read_back.append(kwargs["version"])
        return get(aggregate_id, **kwargs)

    monkeypatch.setattr(ledger.repository, "get", watched_get)
    interval = ledger.snapshotting_intervals[type(ledger.organization(tree.cell_a))]
    while ledger.organization(tree.cell_a).version < interval + 3:
        admit(ledger, tree.cell_a)
    cell_id = ledger.organization(tree.cell_a).id
    assert ledger.snapshots is not None
    assert [s.originator_version for s in ledger.snapshots.get(cell_id)] == [interval]
    assert read_back == []
    from_snapshot = Repository(ledger.events, snapshot_store=ledger.snapshots).get(cell_id)
    replayed = Repository(ledger.events).get(cell_id)
    assert (from_snapshot.version, from_snapshot.members) == (replayed.version, replayed.members)
