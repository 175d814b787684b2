"""The synthetic country: deterministic by seed, in date order, importable, at DOMAIN.md's rates."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest

from service.importer import parse_command
from service.synthetic import FORMAT, RATES, RESTRUCTURING_DAY, Shape, Summary, generate

SCALE = 0.002  # 11,200 members at the end, 400 admissions a year: enough for rates, fast to make.
SEED = 11

# The day each command takes effect or is decided, which orders the file.
DATE_FIELDS = {
    "found_organization": "founded_on",
    "restructure": "effective_on",
    "admit": "admitted_on",
    "confirm_membership": "decided_on",
    "issue_transfer": "issued_on",
    "receive_transfer": "received_on",
    "end_temporary_transfer": "returned_on",
    "cancel_transfer": "cancelled_on",
    "remove_member": "effective_on",
    "restore_member": "restored_on",
}


def made(scale: float, seed: int) -> tuple[str, Summary]:
    """The file's text and summary for a scale and seed."""
    out = io.StringIO()
    summary = generate(out, scale, seed)
    return out.getvalue(), summary


@pytest.fixture(scope="module")
def country() -> tuple[list[dict[str, Any]], Summary]:
    """The commands (header first) and summary of a small country, made once for the module."""
    text, summary = made(SCALE, SEED)
    return [json.loads(line) for line in text.splitlines()], summary


def within(value: float, expected: float, tolerance: float) -> bool:
    """`value` is within `tolerance` (a fraction) of `expected`."""
    return abs(value - expected) <= tolerance * expected


def test_the_same_scale_and_seed_give_the_same_file() -> None:
    """Two runs with one seed write the same bytes."""
    assert made(0.0005, 3)[0] == made(0.0005, 3)[0]


def test_another_seed_gives_another_history() -> None:
    """A different seed gives a different file."""
    assert made(0.0005, 3)[0] != made(0.0005, 4)[0]


def test_the_first_line_names_the_format_and_the_scale(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """The header says which format the commands are in, and how the country was made."""
    header = country[0][0]
    assert (header["format"], header["scale"], header["seed"]) == (FORMAT, SCALE, SEED)


def test_every_other_line_is_a_command_the_importer_reads(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """Each line after the header parses as one of the importer's commands."""
    commands, _ = country
    names = Counter()
    for line, command in enumerate(commands[1:], start=2):
        row = parse_command(line, json.dumps(command))
        assert row is not None
        names[row[1]] += 1
    assert set(names) == set(DATE_FIELDS) | {"set_plan"}


def test_commands_come_in_date_order(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """The day of every dated command is on or after the day of the one before."""
    days = [c[DATE_FIELDS[c["command"]]] for c in country[0][1:] if c["command"] in DATE_FIELDS]
    assert days == sorted(days)


def test_members_are_named_by_the_national_id_of_an_earlier_admission(
    country: tuple[list[dict[str, Any]], Summary],
) -> None:
    """A command about a member names a national ID admitted on an earlier line."""
    admitted: set[str] = set()
    for command in country[0][1:]:
        if command["command"] == "admit":
            admitted.add(command["person"]["national_id"])
        elif "member" in command:
            assert command["member"]["national_id"] in admitted


def test_admissions_a_year_follow_the_national_rate_at_the_scale(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """About 200,000 admissions a year at scale 1.0, in proportion at smaller scales."""
    assert within(country[1].yearly("admissions"), RATES.admissions * SCALE, 0.1)


def test_confirmations_a_year_are_close_to_admissions(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """Nearly every probation ends in a confirmation; a few are not confirmed."""
    summary = country[1]
    assert within(summary.yearly("confirmations"), summary.yearly("admissions"), 0.1)


def test_transfers_a_year_are_several_hundred_thousand_at_full_scale(
    country: tuple[list[dict[str, Any]], Summary],
) -> None:
    """Official and temporary transfers together come to about 350,000 a year at scale 1.0."""
    summary = country[1]
    yearly = summary.yearly("official_transfers") + summary.yearly("temporary_transfers")
    assert within(yearly, (RATES.official_transfers + RATES.temporary_transfers) * SCALE, 0.15)


def test_deaths_a_year_are_tens_of_thousands_at_full_scale(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """About 48,000 members die a year at scale 1.0."""
    assert within(country[1].yearly("deceased"), RATES.deaths * SCALE, 0.2)


def test_removals_a_year_are_about_twenty_thousand_at_full_scale(
    country: tuple[list[dict[str, Any]], Summary],
) -> None:
    """Expulsions, delistings (probations not confirmed included) and exits come to about 22,000."""
    summary = country[1]
    removed = sum(summary.yearly(reason) for reason in ("expelled", "delisted", "voluntary_exit"))
    expected = RATES.expulsions + RATES.delistings + RATES.voluntary_exits + RATES.admissions * RATES.probation_not_confirmed
    assert within(removed, expected * SCALE, 0.25)


def test_the_membership_at_the_end_matches_the_scale(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """5.6 million members at the end at scale 1.0, in proportion at smaller scales."""
    assert within(country[1].members_at_end, RATES.members_at_end * SCALE, 0.1)


def test_a_few_percent_of_members_are_probationary_at_the_end(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """Twelve months of admissions, not yet confirmed, are a few percent of the membership."""
    summary = country[1]
    assert 0.03 <= summary.probationary_at_end / summary.members_at_end <= 0.07


def test_transfers_cross_every_level_of_the_tree(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """Transfers go inside a grassroots committee, a district or commune, a province, and between provinces."""
    levels = country[1].transfer_levels
    assert set(levels) == {"grassroots", "upper_grassroots", "province", "country"}
    assert min(levels.values()) > 0.05 * sum(levels.values())


def test_every_district_committee_is_dissolved_on_1_july_2025(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """The 2025 restructuring dissolves as many committees as there were districts, all on 1 July."""
    dissolved = [c for c in country[0][1:] if c["command"] == "restructure" and c["action"] == "dissolve"]
    assert len(dissolved) == Shape.at(SCALE).districts
    assert {c["effective_on"] for c in dissolved} == {RESTRUCTURING_DAY.isoformat()}


def test_grassroots_organizations_move_under_new_communes_in_2025(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """Every grassroots organization of a district is reparented, under a commune founded that day."""
    commands = country[0][1:]
    communes = {c["code"] for c in commands if c["command"] == "found_organization"
                and c["founded_on"] == RESTRUCTURING_DAY.isoformat()}
    moved = [c for c in commands if c["command"] == "restructure" and c["action"] == "reparent"]
    assert moved and {c["new_parent"] for c in moved} <= communes


def test_provinces_are_merged_in_2025(country: tuple[list[dict[str, Any]], Summary]) -> None:
    """The provinces of before 1 July 2025 are merged into the ones of after."""
    shape = Shape.at(SCALE)
    assert country[1].organizations["provincial"] == shape.provinces < shape.provinces_before


def test_the_shape_at_full_scale_is_the_country_of_domain_md() -> None:
    """Scale 1.0: 34 provinces (63 before 2025), 52,000 grassroots organizations, 270,000 cells."""
    shape = Shape.at(1.0)
    assert (shape.provinces, shape.provinces_before) == (34, 63)
    assert shape.grassroots_committees + shape.grassroots_cells == 52_000
    assert shape.cells + shape.grassroots_cells == 270_000
    assert shape.members_at_end == 5_600_000


def test_a_scale_outside_the_supported_range_is_refused() -> None:
    """A scale of zero or below (or above 2) is not a country."""
    with pytest.raises(ValueError):
        Shape.at(0)
