"""The tree of organizations through the ledger: founding, renaming, moving, merging, splitting,
dissolving and plans, on SQLite and PostgreSQL."""

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from domain import errors
from domain.ledger import Ledger
from domain.organization import Organization
from domain.values import Kind, OrganizationStatus, RemovalReason, person_id
from tests.builders import (
    CLERK,
    Tree,
    admit,
    code,
    decision,
    found,
    refused,
    stream,
)
from tests.integration.conftest import TODAY

ON = date(2023, 7, 1)

# --- founding ------------------------------------------------------------------------------------


def test_a_founded_organization_sits_under_its_parent(ledger: Ledger, tree: Tree) -> None:
    """Founding records the organization, active from its date, among its parent's children."""
    new = code("HN.BADINH.KDC3")
    ledger.found_organization(
        new, "Chi bộ khu dân cư số 3", Kind.GRASSROOTS_CELL, tree.commune, ON, decision(ON), CLERK
    )
    org = ledger.organization(new)
    assert (org.parent, org.kind, org.founded_on, org.status) == (
        tree.commune, Kind.GRASSROOTS_CELL, ON, OrganizationStatus.ACTIVE
    )
    assert ledger.organization(tree.commune).children[new] is Kind.GRASSROOTS_CELL


def test_a_taken_code_is_refused_as_organization_exists(ledger: Ledger, tree: Tree) -> None:
    """Two organizations never share a code."""
    with refused(ledger, errors.OrganizationExists, "organization-exists"):
        ledger.found_organization(
            tree.cell_a, "Chi bộ khác", Kind.GRASSROOTS_CELL, tree.commune, ON, decision(ON), CLERK
        )


def test_the_code_of_a_dissolved_organization_is_never_reused(ledger: Ledger, tree: Tree) -> None:
    """A dissolved organization keeps its code: founding another with it is refused."""
    ledger.dissolve_organization(tree.cell_b, ON, decision(ON), CLERK)
    with refused(ledger, errors.OrganizationExists, "organization-exists"):
        ledger.found_organization(
            tree.cell_b, "Chi bộ mới", Kind.GRASSROOTS_CELL, tree.commune, ON, decision(ON), CLERK
        )


def test_founding_under_an_unknown_parent_is_refused_as_organization_not_found(ledger: Ledger, tree: Tree) -> None:
    """The parent must exist in the ledger."""
    with refused(ledger, errors.OrganizationNotFound, "organization-not-found"):
        ledger.found_organization(
            code("DN.HAICHAU.KDC1"), "Chi bộ tổ dân phố 1", Kind.GRASSROOTS_CELL,
            code("DN.HAICHAU"), ON, decision(ON), CLERK,
        )


def test_a_cell_directly_under_a_province_is_refused_as_kind_not_allowed(ledger: Ledger, tree: Tree) -> None:
    """A cell under a committee sits under a grassroots committee, not under a province."""
    with refused(ledger, errors.KindNotAllowedUnderParent, "kind-not-allowed-under-parent"):
        ledger.found_organization(
            code("HN.CB"), "Chi bộ Văn phòng", Kind.CELL, tree.province, ON, decision(ON), CLERK
        )


def test_founding_before_the_parent_was_founded_is_refused(ledger: Ledger, tree: Tree) -> None:
    """An organization cannot join a parent on a date before the parent existed."""
    with refused(ledger, errors.NotBeforeFounding, "date-before-founding"):
        ledger.found_organization(
            code("HN.BADINH.KDC4"), "Chi bộ khu dân cư số 4", Kind.GRASSROOTS_CELL, tree.commune,
            date(2014, 12, 31), decision(date(2014, 12, 1)), CLERK,
        )


def test_founding_under_a_dissolved_parent_is_refused_as_organization_not_active(ledger: Ledger, tree: Tree) -> None:
    """Nothing can be founded under an organization that has ended."""
    ledger.dissolve_organization(tree.cell_c, ON, decision(ON), CLERK)
    ledger.dissolve_organization(tree.committee, ON, decision(ON), CLERK)
    with refused(ledger, errors.OrganizationNotActive, "organization-not-active"):
        ledger.found_organization(
            code("HN.BADINH.BV.K2"), "Chi bộ Khoa Ngoại", Kind.CELL, tree.committee,
            date(2024, 1, 1), decision(date(2024, 1, 1)), CLERK,
        )


def test_a_malformed_code_is_refused_as_an_invalid_code(ledger: Ledger, tree: Tree) -> None:
    """Codes are letters, digits, dots, dashes and underscores; `Ba Đình` is refused."""
    with refused(ledger, errors.InvalidValue, "invalid-value") as info:
        ledger.found_organization(
            "Ba Đình", "Chi bộ", Kind.GRASSROOTS_CELL, tree.commune, ON, decision(ON), CLERK
        )
    assert info.value.field == "code"


def test_an_empty_name_is_refused_as_an_invalid_name(ledger: Ledger, tree: Tree) -> None:
    """An organization always has a name."""
    with refused(ledger, errors.InvalidValue, "invalid-value") as info:
        ledger.found_organization(
            code("HN.BADINH.KDC5"), "  ", Kind.GRASSROOTS_CELL, tree.commune, ON, decision(ON), CLERK
        )
    assert info.value.field == "name"


def test_the_depth_of_the_tree_may_vary_by_branch(ledger: Ledger, tree: Tree) -> None:
    """A cell may sit under a sub-committee, one level deeper than its cousins."""
    sub = found(ledger, "HN.BADINH.BV.NOI", "Đảng bộ bộ phận Khối Nội", Kind.SUB_COMMITTEE, tree.committee)
    cell = found(ledger, "HN.BADINH.BV.DBBP.K3", "Chi bộ Khoa Tim mạch", Kind.CELL, sub)
    admission, _ = admit(ledger, cell)
    assert str(admission.member_id) in ledger.organization(cell).members


# --- rename and reparent -------------------------------------------------------------------------


def test_a_renamed_organization_takes_its_new_name(ledger: Ledger, tree: Tree) -> None:
    """Renaming changes the name and records the date it takes effect."""
    ledger.rename_organization(tree.commune, "Đảng bộ phường Ba Đình (mới)", ON, decision(ON), CLERK)
    assert ledger.organization(tree.commune).name == "Đảng bộ phường Ba Đình (mới)"
    renamed = stream(ledger, tree.commune)[-1]
    assert isinstance(renamed, Organization.Renamed) and renamed.effective_on == ON


def test_a_rename_dated_before_an_earlier_change_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """Changes to an organization take effect in order: a rename cannot predate the last one."""
    ledger.rename_organization(tree.cell_a, "Chi bộ Tổ dân phố 1", ON, decision(ON), CLERK)
    with refused(ledger, errors.StructureOutOfOrder, "structure-out-of-order"):
        ledger.rename_organization(
            tree.cell_a, "Chi bộ Tổ dân phố số 1", date(2023, 6, 30), decision(date(2023, 6, 1)), CLERK
        )


def test_a_rename_dated_before_the_founding_is_refused(ledger: Ledger, tree: Tree) -> None:
    """An organization cannot change before it existed."""
    with refused(ledger, errors.NotBeforeFounding, "date-before-founding"):
        ledger.rename_organization(tree.cell_a, "Chi bộ 1", date(2014, 6, 1), decision(date(2014, 6, 1)), CLERK)


def test_a_reparented_organization_moves_from_its_old_parent_to_the_new(ledger: Ledger, tree: Tree) -> None:
    """Re-parenting changes the parent and the children of both parents."""
    other = found(ledger, "HN.HOANKIEM", "Đảng bộ phường Hoàn Kiếm", Kind.UPPER_GRASSROOTS, tree.province)
    ledger.reparent_organization(tree.cell_a, other, ON, decision(ON), CLERK)
    assert ledger.organization(tree.cell_a).parent == other
    assert tree.cell_a in ledger.organization(other).children
    assert tree.cell_a not in ledger.organization(tree.commune).children


def test_reparenting_under_its_own_subtree_is_refused_as_a_cycle(ledger: Ledger, tree: Tree) -> None:
    """An organization cannot sit under one of its own descendants."""
    with refused(ledger, errors.CycleInTree, "cycle-in-tree"):
        ledger.reparent_organization(tree.commune, tree.committee, ON, decision(ON), CLERK)


def test_reparenting_under_itself_is_refused_as_a_cycle(ledger: Ledger, tree: Tree) -> None:
    """An organization cannot be its own parent."""
    with refused(ledger, errors.CycleInTree, "cycle-in-tree"):
        ledger.reparent_organization(tree.committee, tree.committee, ON, decision(ON), CLERK)


def test_reparenting_under_a_parent_of_the_wrong_kind_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A grassroots cell cannot be moved under a grassroots committee."""
    with refused(ledger, errors.KindNotAllowedUnderParent, "kind-not-allowed-under-parent"):
        ledger.reparent_organization(tree.cell_a, tree.committee, ON, decision(ON), CLERK)


def test_a_reparent_dated_before_an_earlier_change_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """A move cannot take effect before the organization's last recorded change."""
    other = found(ledger, "HN.HOANKIEM", "Đảng bộ phường Hoàn Kiếm", Kind.UPPER_GRASSROOTS, tree.province)
    ledger.rename_organization(tree.cell_a, "Chi bộ Tổ dân phố 1", ON, decision(ON), CLERK)
    with refused(ledger, errors.StructureOutOfOrder, "structure-out-of-order"):
        ledger.reparent_organization(tree.cell_a, other, date(2023, 1, 1), decision(date(2023, 1, 1)), CLERK)


# --- merge -----------------------------------------------------------------------------------------


def test_merging_moves_every_member_with_their_file_to_the_target(ledger: Ledger, tree: Tree) -> None:
    """After a merger the target's roster holds the source's members, files unchanged but for the date."""
    moved = [admit(ledger, tree.cell_a)[0].member_id for _ in range(2)]
    stayed = admit(ledger, tree.cell_b)[0].member_id
    before = {m: ledger.organization(tree.cell_a).members[str(m)] for m in moved}
    ledger.merge_organization(tree.cell_a, tree.cell_b, ON, decision(ON), CLERK)
    target = ledger.organization(tree.cell_b)
    assert set(target.members) == {str(m) for m in [*moved, stayed]}
    for member_id, file in before.items():
        arrived = target.members[str(member_id)]
        assert (arrived.person, arrived.joined_on, arrived.probation_ends_on) == (
            file.person, file.joined_on, file.probation_ends_on
        )


def test_a_merged_organization_ends_and_names_its_successor(ledger: Ledger, tree: Tree) -> None:
    """The source is ended as merged, holds nothing, and its parent no longer lists it."""
    admit(ledger, tree.cell_a)
    ledger.merge_organization(tree.cell_a, tree.cell_b, ON, decision(ON), CLERK)
    source = ledger.organization(tree.cell_a)
    assert (source.status, source.ended_on, source.successor, source.members) == (
        OrganizationStatus.MERGED, ON, tree.cell_b, {}
    )
    assert tree.cell_a not in ledger.organization(tree.commune).children


def test_after_a_merger_the_registry_points_at_the_target(ledger: Ledger, tree: Tree) -> None:
    """Each moved member's registry entry names the target cell."""
    _, candidate = admit(ledger, tree.cell_a)
    ledger.merge_organization(tree.cell_a, tree.cell_b, ON, decision(ON), CLERK)
    registered = ledger.person(candidate.national_id)
    assert registered is not None and registered.organization == tree.cell_b


@pytest.mark.parametrize("in_batch", [False, True], ids=["command", "batch"])
def test_a_merger_reads_the_moved_members_registry_entries_together(
    ledger: Ledger, tree: Tree, monkeypatch: pytest.MonkeyPatch, in_batch: bool
) -> None:
    """The members' registry streams are read in one go, not one stream at a time: in the 2025
    restructuring a commune's merger moved hundreds of members, two round trips each."""
    people = [admit(ledger, tree.cell_a)[1] for _ in range(5)]
    asked: list[UUID] = []
    get = ledger.repository.get

    def counting_get(aggregate_id: UUID, *args: Any, **kwargs: Any) -> Any:
        asked.append(aggregate_id)
        return get(aggregate_id, *args, **kwargs)

    monkeypatch.setattr(ledger.repository, "get", counting_get)
    if in_batch:
        with ledger.batch():
            ledger.merge_organization(tree.cell_a, tree.cell_b, ON, decision(ON), CLERK)
    else:
        ledger.merge_organization(tree.cell_a, tree.cell_b, ON, decision(ON), CLERK)
    assert {person_id(p.national_id) for p in people}.isdisjoint(asked)
    monkeypatch.undo()
    moved = [ledger.person(p.national_id) for p in people]
    assert [(p.organization, p.version) for p in moved if p] == [(tree.cell_b, 2)] * 5


def test_people_are_read_together_and_the_never_admitted_left_out(ledger: Ledger, tree: Tree) -> None:
    """`people` gives each admitted person's registry entry as `person` does, by national ID."""
    admitted = [admit(ledger, cell)[1] for cell in (tree.cell_a, tree.cell_b, tree.cell_c)]
    found = ledger.people([p.national_id for p in admitted] + ["001099000000"])
    assert list(found) == [p.national_id for p in admitted]
    for candidate in admitted:
        one = ledger.person(candidate.national_id)
        assert one is not None
        assert (found[candidate.national_id].id, found[candidate.national_id].version) == (one.id, one.version)
        assert found[candidate.national_id].organization == one.organization


def test_merging_moves_the_children_under_the_target(ledger: Ledger, tree: Tree) -> None:
    """The children of a merged committee move under the target, which holds them."""
    target = found(
        ledger, "HN.BADINH.THPT", "Đảng bộ Trường THPT Phan Đình Phùng", Kind.GRASSROOTS_COMMITTEE, tree.commune
    )
    ledger.merge_organization(tree.committee, target, ON, decision(ON), CLERK)
    assert ledger.organization(tree.cell_c).parent == target
    assert ledger.organization(target).children == {tree.cell_c: Kind.CELL}


def test_merging_into_the_parent_hands_it_the_children(ledger: Ledger, tree: Tree) -> None:
    """A sub-committee merged into its own committee leaves its cells directly under that committee."""
    sub = found(ledger, "HN.BADINH.BV.NGOAI", "Đảng bộ bộ phận Khối Ngoại", Kind.SUB_COMMITTEE, tree.committee)
    cell = found(ledger, "HN.BADINH.BV.DBBP.K4", "Chi bộ Khoa Ngoại", Kind.CELL, sub)
    ledger.merge_organization(sub, tree.committee, ON, decision(ON), CLERK)
    assert ledger.organization(tree.committee).children == {tree.cell_c: Kind.CELL, cell: Kind.CELL}
    assert ledger.organization(cell).parent == tree.committee


def test_a_merged_organization_refuses_new_members(ledger: Ledger, tree: Tree) -> None:
    """Commands addressed to a merged organization are refused as organization-not-active."""
    ledger.merge_organization(tree.cell_a, tree.cell_b, ON, decision(ON), CLERK)
    with refused(ledger, errors.OrganizationNotActive, "organization-not-active"):
        admit(ledger, tree.cell_a, on=date(2024, 3, 15))


def test_a_merged_organization_refuses_to_confirm_its_former_members(ledger: Ledger, tree: Tree) -> None:
    """Members of a merged cell are confirmed by their new cell, not the old one."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.merge_organization(tree.cell_a, tree.cell_b, ON, decision(ON), CLERK)
    with refused(ledger, errors.OrganizationNotActive, "organization-not-active"):
        ledger.confirm_membership(tree.cell_a, admission.member_id, ON, decision(ON), CLERK)


def test_merging_into_itself_is_refused_as_a_cycle(ledger: Ledger, tree: Tree) -> None:
    """An organization cannot merge into itself."""
    with refused(ledger, errors.CycleInTree, "cycle-in-tree"):
        ledger.merge_organization(tree.cell_a, tree.cell_a, ON, decision(ON), CLERK)


def test_merging_into_its_own_descendant_is_refused_as_a_cycle(ledger: Ledger, tree: Tree) -> None:
    """A committee cannot merge into one of its own cells."""
    with refused(ledger, errors.CycleInTree, "cycle-in-tree"):
        ledger.merge_organization(tree.committee, tree.cell_c, ON, decision(ON), CLERK)


def test_merging_members_into_a_committee_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A cell with members can only merge into an organization that keeps a roster."""
    admit(ledger, tree.cell_a)
    with refused(ledger, errors.HoldsNoMembers, "organization-holds-no-members"):
        ledger.merge_organization(tree.cell_a, tree.commune, ON, decision(ON), CLERK)


def test_a_merger_dated_before_a_members_last_event_is_refused(ledger: Ledger, tree: Tree) -> None:
    """Members move collectively only on or after their last recorded event."""
    admit(ledger, tree.cell_a)
    with refused(ledger, errors.StructureOutOfOrder, "structure-out-of-order"):
        ledger.merge_organization(tree.cell_a, tree.cell_b, date(2021, 1, 1), decision(date(2021, 1, 1)), CLERK)


def _hospital(ledger: Ledger, tree: Tree, site: str) -> str:
    """A grassroots committee of a hospital site under the commune."""
    return found(ledger, "HN.BADINH.BV", f"Đảng bộ Bệnh viện cơ sở {site}", Kind.GRASSROOTS_COMMITTEE, tree.commune)


# --- split -----------------------------------------------------------------------------------------


def test_splitting_allocates_each_member_to_its_part(ledger: Ledger, tree: Tree) -> None:
    """Every member lands on the roster of the part named for them, and the registry follows."""
    admitted = [admit(ledger, tree.cell_a) for _ in range(3)]
    first, rest = admitted[0], admitted[1:]
    new = found(ledger, "HN.BADINH.KDC6", "Chi bộ khu dân cư số 6", Kind.GRASSROOTS_CELL, tree.commune)
    ledger.split_organization(
        tree.cell_a,
        {tree.cell_b: {"members": [str(first[0].member_id)]},
         new: {"members": [str(a.member_id) for a, _ in rest]}},
        ON, decision(ON), CLERK,
    )
    assert set(ledger.organization(tree.cell_b).members) == {str(first[0].member_id)}
    assert set(ledger.organization(new).members) == {str(a.member_id) for a, _ in rest}
    registered = [ledger.person(p.national_id) for _, p in admitted]
    assert [r.organization for r in registered if r] == [tree.cell_b, new, new]


def test_a_split_organization_ends_and_leaves_its_parent(ledger: Ledger, tree: Tree) -> None:
    """The source is ended as split, holds nothing, and its parent no longer lists it."""
    admission, _ = admit(ledger, tree.cell_a)
    parts = {tree.cell_b: {"members": [str(admission.member_id)]}}
    ledger.split_organization(tree.cell_a, parts, ON, decision(ON), CLERK)
    source = ledger.organization(tree.cell_a)
    assert (source.status, source.ended_on, source.members) == (OrganizationStatus.SPLIT, ON, {})
    assert tree.cell_a not in ledger.organization(tree.commune).children


def test_splitting_moves_each_child_to_its_part(ledger: Ledger, tree: Tree) -> None:
    """The cells of a split committee each sit under the part they were given to."""
    extra = found(ledger, "HN.BADINH.BV.K5", "Chi bộ Khoa Nhi", Kind.CELL, tree.committee)
    north = _hospital(ledger, tree, "Bắc")
    south = _hospital(ledger, tree, "Nam")
    ledger.split_organization(
        tree.committee, {north: {"children": [tree.cell_c]}, south: {"children": [extra]}}, ON, decision(ON), CLERK
    )
    assert (ledger.organization(tree.cell_c).parent, ledger.organization(extra).parent) == (north, south)
    assert (set(ledger.organization(north).children), set(ledger.organization(south).children)) == (
        {tree.cell_c}, {extra}
    )


def test_a_split_leaving_a_member_out_is_refused_as_allocation_incomplete(ledger: Ledger, tree: Tree) -> None:
    """Every member must go to one of the parts."""
    kept, _ = admit(ledger, tree.cell_a)
    admit(ledger, tree.cell_a)
    with refused(ledger, errors.AllocationIncomplete, "allocation-incomplete"):
        ledger.split_organization(
            tree.cell_a, {tree.cell_b: {"members": [str(kept.member_id)]}}, ON, decision(ON), CLERK
        )


def test_a_split_giving_a_member_to_two_parts_is_refused_as_allocation_incomplete(ledger: Ledger, tree: Tree) -> None:
    """No member may be allocated twice."""
    admission, _ = admit(ledger, tree.cell_a)
    new = found(ledger, "HN.BADINH.KDC7", "Chi bộ khu dân cư số 7", Kind.GRASSROOTS_CELL, tree.commune)
    twice = [str(admission.member_id)]
    with refused(ledger, errors.AllocationIncomplete, "allocation-incomplete"):
        ledger.split_organization(
            tree.cell_a, {tree.cell_b: {"members": twice}, new: {"members": twice}}, ON, decision(ON), CLERK
        )


def test_a_split_leaving_a_child_out_is_refused_as_allocation_incomplete(ledger: Ledger, tree: Tree) -> None:
    """Every child must go to one of the parts."""
    north = _hospital(ledger, tree, "Bắc")
    with refused(ledger, errors.AllocationIncomplete, "allocation-incomplete"):
        ledger.split_organization(tree.committee, {north: {"children": []}}, ON, decision(ON), CLERK)


def test_a_split_into_itself_is_refused_as_a_cycle(ledger: Ledger, tree: Tree) -> None:
    """An organization cannot be one of its own parts."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.CycleInTree, "cycle-in-tree"):
        ledger.split_organization(
            tree.cell_a, {tree.cell_a: {"members": [str(admission.member_id)]}}, ON, decision(ON), CLERK
        )


# --- dissolve --------------------------------------------------------------------------------------


def test_an_empty_organization_is_dissolved(ledger: Ledger, tree: Tree) -> None:
    """Dissolving ends an empty organization and takes it off its parent's children."""
    ledger.dissolve_organization(tree.cell_b, ON, decision(ON), CLERK)
    assert ledger.organization(tree.cell_b).status is OrganizationStatus.DISSOLVED
    assert tree.cell_b not in ledger.organization(tree.commune).children


def test_dissolving_a_cell_with_members_is_refused_as_not_empty(ledger: Ledger, tree: Tree) -> None:
    """Members must be moved or removed before their cell is dissolved."""
    admit(ledger, tree.cell_b)
    with refused(ledger, errors.OrganizationNotEmpty, "organization-not-empty"):
        ledger.dissolve_organization(tree.cell_b, ON, decision(ON), CLERK)


def test_dissolving_a_cell_before_its_last_members_event_is_refused_as_out_of_order(
    ledger: Ledger, tree: Tree
) -> None:
    """Emptied in 2024, a cell cannot be dissolved as of 2023: its roster had members then."""
    admission, _ = admit(ledger, tree.cell_b, date(2022, 5, 1))
    ledger.remove_member(tree.cell_b, admission.member_id, RemovalReason.DECEASED, date(2024, 2, 1), decision(date(2024, 2, 1)), CLERK)
    with refused(ledger, errors.StructureOutOfOrder, "structure-out-of-order"):
        ledger.dissolve_organization(tree.cell_b, ON, decision(ON), CLERK)
    ledger.dissolve_organization(tree.cell_b, date(2024, 2, 1), decision(date(2024, 2, 1)), CLERK)


def test_dissolving_a_committee_with_children_is_refused_as_not_empty(ledger: Ledger, tree: Tree) -> None:
    """Children must be moved or dissolved before their parent is dissolved."""
    with refused(ledger, errors.OrganizationNotEmpty, "organization-not-empty"):
        ledger.dissolve_organization(tree.committee, ON, decision(ON), CLERK)


def test_a_dissolved_organization_cannot_be_dissolved_again(ledger: Ledger, tree: Tree) -> None:
    """An ended organization takes no further commands."""
    ledger.dissolve_organization(tree.cell_b, ON, decision(ON), CLERK)
    with refused(ledger, errors.OrganizationNotActive, "organization-not-active"):
        ledger.dissolve_organization(tree.cell_b, date(2024, 1, 1), decision(date(2024, 1, 1)), CLERK)


# --- plans -----------------------------------------------------------------------------------------


def test_a_plan_sets_the_admissions_target_for_a_year(ledger: Ledger, tree: Tree) -> None:
    """A yearly target is kept under its period, effective today, with who recorded it."""
    ledger.set_plan(tree.commune, "2026", 40, CLERK)
    assert ledger.organization(tree.commune).plans == {"2026": 40}
    event = stream(ledger, tree.commune)[-1]
    assert isinstance(event, Organization.PlanSet)
    assert (event.effective_on, event.decision, event.recorded_by) == (TODAY, None, CLERK)


def test_a_revised_plan_replaces_the_earlier_target_of_the_same_period(ledger: Ledger, tree: Tree) -> None:
    """Setting a term's target again revises it; other periods are untouched."""
    ledger.set_plan(tree.commune, "2020-2025", 180, CLERK)
    ledger.set_plan(tree.commune, "2026", 40, CLERK)
    ledger.set_plan(tree.commune, "2020-2025", 200, CLERK)
    assert ledger.organization(tree.commune).plans == {"2020-2025": 200, "2026": 40}


@pytest.mark.parametrize("period", ["2025-2020", "năm 2026", "26"])
def test_a_plan_for_a_malformed_period_is_refused_naming_the_period(ledger: Ledger, tree: Tree, period: str) -> None:
    """A period that is neither a year nor a term is an invalid value of the field `period`."""
    with refused(ledger, errors.InvalidValue, "invalid-value") as info:
        ledger.set_plan(tree.commune, period, 40, CLERK)
    assert info.value.field == "period"


def test_a_negative_plan_is_refused_naming_the_admissions(ledger: Ledger, tree: Tree) -> None:
    """A target cannot be below zero."""
    with refused(ledger, errors.InvalidValue, "invalid-value") as info:
        ledger.set_plan(tree.commune, "2026", -1, CLERK)
    assert info.value.field == "admissions"


def test_a_plan_for_an_unknown_organization_is_refused_as_not_found(ledger: Ledger, tree: Tree) -> None:
    """Plans are set only for organizations in the ledger."""
    with refused(ledger, errors.OrganizationNotFound, "organization-not-found"):
        ledger.set_plan(code("HN.TAYHO"), "2026", 40, CLERK)

