"""Real concurrent writers on a real PostgreSQL: colliding commands are retried on fresh state, so no
event is lost and the Charter's one-membership rule holds."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from domain import errors
from domain.ledger import Admission, Ledger
from domain.organization import Organization
from domain.values import Kind, organization_id
from tests.builders import ADMITTED_ON, CLERK, build_tree, decision, found, person
from tests.ledger_env import ledger_env

WRITERS = 8
ADMISSIONS_EACH = 3

T = TypeVar("T")


@pytest.fixture
def ledgers(postgres_database_url: str) -> Iterator[Callable[[], Ledger]]:
    """Make ledger applications on one fresh PostgreSQL database; all are closed afterwards."""
    made: list[Ledger] = []

    def make() -> Ledger:
        made.append(Ledger(ledger_env(postgres_database_url)))
        return made[-1]

    yield make
    for application in made:
        application.close()


def _all_at_once(writers: list[Ledger], command: Callable[[Ledger, int], T]) -> list[T | BaseException]:
    """Run `command(writer, index)` for each writer on its own thread, all released at the same instant."""
    start = threading.Barrier(len(writers))

    def run(index: int) -> T:
        start.wait(timeout=10)
        return command(writers[index], index)

    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        futures = [pool.submit(run, i) for i in range(len(writers))]
        return [f.exception(timeout=60) or f.result() for f in futures]


def _writers(ledgers: Callable[[], Ledger], main: Ledger, sharing: str) -> list[Ledger]:
    """One ledger per thread, or the same one for all threads."""
    return [main] * WRITERS if sharing == "shared" else [ledgers() for _ in range(WRITERS)]


@pytest.mark.parametrize("sharing", ["shared", "separate"])
def test_simultaneous_admissions_to_one_cell_are_all_recorded(ledgers: Callable[[], Ledger], sharing: str) -> None:
    """Writers admitting different people to the same cell at once lose no admission."""
    main = ledgers()
    cell = build_tree(main).cell_a
    writers = _writers(ledgers, main, sharing)

    def admit_several(writer: Ledger, _: int) -> list[Admission]:
        return [
            writer.admit(cell, person(), ADMITTED_ON, decision(), CLERK) for _ in range(ADMISSIONS_EACH)
        ]

    outcomes = _all_at_once(writers, admit_several)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    admitted = {str(a.member_id) for batch in outcomes for a in batch}  # type: ignore[union-attr]
    recorded = ledgers().organization(cell)
    assert len(admitted) == WRITERS * ADMISSIONS_EACH
    assert set(recorded.members) == admitted
    assert recorded.version == 1 + WRITERS * ADMISSIONS_EACH
    events = list(main.events.get(organization_id(cell)))
    assert sum(isinstance(e, Organization.MemberAdmitted) for e in events) == WRITERS * ADMISSIONS_EACH


@pytest.mark.parametrize("sharing", ["shared", "separate"])
def test_simultaneous_admissions_of_one_person_to_different_cells_admit_exactly_once(
    ledgers: Callable[[], Ledger], sharing: str
) -> None:
    """Of writers admitting the same person to different cells at once, one wins; the others get already-a-member."""
    main = ledgers()
    tree = build_tree(main)
    cells = [
        found(main, f"HN.BADINH.TDP{i}", f"Chi bộ tổ dân phố {i}", Kind.GRASSROOTS_CELL, tree.commune)
        for i in range(WRITERS)
    ]
    candidate = person()
    writers = _writers(ledgers, main, sharing)

    outcomes = _all_at_once(
        writers, lambda writer, i: writer.admit(cells[i], candidate, ADMITTED_ON, decision(), CLERK)
    )
    winners = [cells[i] for i, o in enumerate(outcomes) if isinstance(o, Admission)]
    refusals = [o for o in outcomes if not isinstance(o, Admission)]
    assert len(winners) == 1
    assert all(isinstance(r, errors.AlreadyAMember) and r.code == "already-a-member" for r in refusals), refusals
    reader = ledgers()
    assert reader.person(candidate.national_id).organization == winners[0]  # type: ignore[union-attr]
    assert [len(reader.organization(c).members) for c in cells] == [int(c == winners[0]) for c in cells]
    assert [reader.organization(c).version for c in cells] == [2 if c == winners[0] else 1 for c in cells]
