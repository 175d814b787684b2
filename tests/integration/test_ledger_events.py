"""What the ledger stores: every event's date, decision and recorder; old event versions that still
load; snapshots that load like a full replay. On SQLite and PostgreSQL."""

import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import uuid4

from eventsourcing.application import Repository
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, StoredEvent
from eventsourcing.utils import get_topic

from domain.ledger import Ledger
from domain.organization import Organization
from domain.values import Education, MemberStatus, TransferKind, organization_id
from tests.builders import CLERK, Tree, admit, decision, national_id

ON = date(2023, 7, 1)


def _stored_states(ledger: Ledger, topic_prefix: str) -> list[dict[str, Any]]:
    """The raw JSON state of every stored event whose topic starts with `topic_prefix`."""
    notifications = ledger.recorder.select_notifications(start=None, limit=10_000)
    return [json.loads(n.state) for n in notifications if n.topic.startswith(topic_prefix)]


def test_every_organization_event_is_stored_with_its_date_decision_and_recorder(ledger: Ledger, tree: Tree) -> None:
    """Founding, admission, confirmation, transfer, rename and plan events all keep the three facts."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.confirm_membership(tree.cell_a, admission.member_id, ON, decision(ON), CLERK)
    transfer = ledger.issue_transfer(
        tree.cell_a, admission.member_id, tree.cell_c, TransferKind.OFFICIAL, ON, None, decision(ON), CLERK
    )
    ledger.receive_transfer(tree.cell_c, transfer.transfer_id, date(2023, 7, 15), CLERK)
    ledger.rename_organization(tree.cell_a, "Chi bộ Tổ dân phố số 1", ON, decision(ON), CLERK)
    ledger.set_plan(tree.commune, "2026", 40, CLERK)
    states = _stored_states(ledger, "domain.organization:")
    assert len(states) == ledger.recorder.max_notification_id() - 2  # all but the registry's two
    for state in states:
        assert state["effective_on"]["_type_"] == "date"
        assert "decision" in state
        assert state["recorded_by"] == CLERK


def test_a_decision_is_stored_with_its_number_date_and_issuer(ledger: Ledger, tree: Tree) -> None:
    """The decision on an event keeps its number, its own date and the issuing organization."""
    ruling = decision(date(2023, 6, 20), issued_by=tree.commune)
    ledger.rename_organization(tree.cell_a, "Chi bộ Tổ dân phố số 1", ON, ruling, CLERK)
    (renamed,) = _stored_states(ledger, get_topic(Organization.Renamed))
    assert renamed["decision"] == {
        "_type_": "Decision",
        "_data_": {
            "number": ruling.number,
            "issued_on": {"_type_": "date", "_data_": "2023-06-20"},
            "issued_by": tree.commune,
        },
    }
    assert renamed["effective_on"] == {"_type_": "date", "_data_": "2023-07-01"}


def test_registry_events_are_stored_with_their_effective_date(ledger: Ledger, tree: Tree) -> None:
    """The registry's events say from when the person is on a roster."""
    admit(ledger, tree.cell_a)
    (registered,) = _stored_states(ledger, "domain.registry:")
    assert registered["effective_on"] == {"_type_": "date", "_data_": "2021-03-15"}


# --- versions of events ------------------------------------------------------------------------------


def test_new_admissions_are_stored_as_version_2_with_hard_area(ledger: Ledger, tree: Tree) -> None:
    """MemberAdmitted is written at class version 2, which added `hard_area`."""
    admit(ledger, tree.cell_a)
    (admitted,) = _stored_states(ledger, get_topic(Organization.MemberAdmitted))
    assert (admitted["class_version"], admitted["hard_area"]) == (2, False)


def _insert_version_1_admission(ledger: Ledger, cell: str) -> str:
    """Store, as the code before `hard_area` wrote it, the admission of a person to `cell`; return the member id."""
    member_id = uuid4()
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2021-03-15T02:30:00+00:00"},
        "effective_on": {"_type_": "date", "_data_": "2021-03-15"},
        "decision": {
            "_type_": "Decision",
            "_data_": {
                "number": "215-QĐ/ĐU",
                "issued_on": {"_type_": "date", "_data_": "2021-03-01"},
                "issued_by": None,
            },
        },
        "recorded_by": CLERK,
        "member_id": {"_type_": "uuid_hex", "_data_": member_id.hex},
        "person": {
            "_type_": "PersonProfile",
            "_data_": {
                "national_id": national_id(),
                "full_name": "Lò Thị Hoa",
                "birth_date": {"_type_": "date", "_data_": "1998-08-02"},
                "sex": {"_type_": "Sex", "_data_": "female"},
                "ethnicity": "Thái",
                "education": {"_type_": "Education", "_data_": "primary"},
            },
        },
        "probation_ends_on": {"_type_": "date", "_data_": "2022-03-15"},
        "joined_on": {"_type_": "date", "_data_": "2021-03-15"},
        "admissions": 1,
    }
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=organization_id(cell),
                originator_version=ledger.organization(cell).version + 1,
                topic="domain.organization:Organization.MemberAdmitted",
                state=json.dumps(state).encode("utf-8"),
            )
        ]
    )
    return str(member_id)


def test_a_version_1_admission_loads_with_hard_area_false(ledger: Ledger, tree: Tree) -> None:
    """An admission stored before `hard_area` existed is upcast: it loads, and reads hard_area False."""
    member_id = _insert_version_1_admission(ledger, tree.cell_a)
    cell = ledger.organization(tree.cell_a)
    assert cell.members[member_id].person.full_name == "Lò Thị Hoa"
    assert cell.members[member_id].person.education is Education.PRIMARY
    (admitted,) = ledger.events.get(organization_id(tree.cell_a), gt=1)
    assert isinstance(admitted, Organization.MemberAdmitted) and admitted.hard_area is False


def test_a_member_admitted_under_version_1_can_still_be_confirmed(ledger: Ledger, tree: Tree) -> None:
    """The upcast admission is a working roster entry: the ledger confirms the member on it."""
    member_id = _insert_version_1_admission(ledger, tree.cell_a)
    confirmation = ledger.confirm_membership(
        tree.cell_a, ledger.organization(tree.cell_a).members[member_id].member_id, ON, decision(ON), CLERK
    )
    assert (confirmation.status, confirmation.official_since) == (MemberStatus.OFFICIAL, date(2022, 3, 15))


# --- snapshots -----------------------------------------------------------------------------------------

ADMISSIONS = 60  # the cell's stream reaches version 61; snapshots are taken every 50 events


class CountingEventStore:
    """An event store that passes reads through to another and counts the events it hands out."""

    def __init__(self, store: EventStore[Any]) -> None:
        self.store = store
        self.read = 0

    def get(self, *args: Any, **kwargs: Any) -> Iterator[DomainEventProtocol[Any]]:
        for event in self.store.get(*args, **kwargs):
            self.read += 1
            yield event


def _busy_cell(ledger: Ledger, tree: Tree) -> None:
    for day in range(ADMISSIONS):
        admit(ledger, tree.cell_a, on=date(2021, 3, 1 + day % 28), education=Education.LOWER_SECONDARY)


def test_a_busy_cell_is_loaded_from_its_snapshot_reading_only_the_later_events(ledger: Ledger, tree: Tree) -> None:
    """With a snapshot at version 50, loading the cell reads the 11 events after it, not all 61."""
    _busy_cell(ledger, tree)
    cell_id = organization_id(tree.cell_a)
    assert ledger.snapshots is not None
    (snapshot,) = ledger.snapshots.get(cell_id, desc=True, limit=1)
    assert snapshot.originator_version == 50
    counting = CountingEventStore(ledger.events)
    loaded = Repository(counting, snapshot_store=ledger.snapshots).get(cell_id)  # type: ignore[arg-type]
    assert (loaded.version, counting.read) == (1 + ADMISSIONS, 1 + ADMISSIONS - 50)


def test_a_cell_loaded_from_its_snapshot_equals_a_full_replay(ledger: Ledger, tree: Tree) -> None:
    """Snapshot plus later events give exactly the state that replaying every event gives."""
    _busy_cell(ledger, tree)
    cell_id = organization_id(tree.cell_a)
    from_snapshot = Repository(ledger.events, snapshot_store=ledger.snapshots).get(cell_id)
    replayed = Repository(ledger.events).get(cell_id)
    assert len(from_snapshot.members) == ADMISSIONS
    assert vars(from_snapshot) == vars(replayed)
    assert vars(ledger.organization(tree.cell_a)) == vars(replayed)


def test_a_past_version_of_a_cell_is_rebuilt_from_its_events(ledger: Ledger, tree: Tree) -> None:
    """Asking for version 30 gives the roster as it stood after 29 admissions."""
    _busy_cell(ledger, tree)
    past = ledger.repository.get(organization_id(tree.cell_a), version=30)
    assert (past.version, len(past.members)) == (30, 29)
