"""The buckets a report sums: whole years, whole months and single days, covering a period exactly."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from projections.reports import bucket_ranges

DAYS = st.dates(min_value=date(1930, 1, 1), max_value=date(2040, 12, 31))


def days_of(ranges: list[tuple[str, str, str]]) -> list[date]:
    """Every day the buckets cover, in order, a day as often as a bucket covers it."""
    covered = []
    for grain, first, last in ranges:
        if grain == "d":
            start, stop = date.fromisoformat(first), date.fromisoformat(last)
        elif grain == "m":
            start = date.fromisoformat(first + "-01")
            stop = date.fromisoformat(last + "-01")
            stop = (stop.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        else:
            start, stop = date(int(first), 1, 1), date(int(last), 12, 31)
        covered += [start + timedelta(days=n) for n in range((stop - start).days + 1)]
    return sorted(covered)


@given(DAYS, DAYS, st.booleans())
def test_the_buckets_cover_every_day_of_the_period_once(start: date, end: date, years: bool) -> None:
    """With or without year buckets, each day from start to end is covered by exactly one bucket."""
    expected = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    assert days_of(bucket_ranges(start, end, years)) == expected


def test_an_opening_balance_since_1930_sums_years_then_months_then_days() -> None:
    """Up to 14 March 2024: the years 1930-2023, January and February, then 13 days of March."""
    assert bucket_ranges(date(1930, 1, 1), date(2024, 3, 13), True) == [
        ("y", "1930", "2023"), ("m", "2024-01", "2024-02"), ("d", "2024-03-01", "2024-03-13"),
    ]


def test_without_year_buckets_whole_years_are_summed_by_month() -> None:
    """An organization that keeps no year buckets is summed over its months."""
    assert bucket_ranges(date(2016, 1, 1), date(2017, 12, 31), False) == [("m", "2016-01", "2017-12")]
