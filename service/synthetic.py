"""A synthetic country: a realistic history of party organizations and members, as ledger commands.

`generate` writes newline-delimited JSON commands, the format `service.importer` reads (each line
mirrors the body of the matching HTTP call of shared/API.md), in date order:

- the tree founded between 1930 and 1959 (63 provinces at scale 1.0, district and bloc committees,
  grassroots committees with their sub-committees and cells, grassroots cells);
- the members alive on 1 January 2016, admitted and confirmed from 1960 on;
- ten years, 2016-2025, at the rates of shared/DOMAIN.md: admissions, confirmations (and
  probations not confirmed), official and temporary transfers inside a grassroots committee, a
  commune or district, a province and between provinces, transfers cancelled, deaths, expulsions,
  delistings, voluntary exits, restorations, readmissions after 36 months, admission plans, and
  every year a few cells founded and merged;
- the restructuring of 1 July 2025: 29 provinces merged into 34, the district committees
  dissolved, their grassroots organizations moved under new commune committees, some cells merged.

Members are referred to by national ID, so no command needs an id the ledger has not made yet.
The same scale and seed always give the same file, byte for byte. Memory grows with the number of
members (a few dozen bytes each, in flat arrays), never with the length of the history: every
command is written as soon as it is made.
"""

from __future__ import annotations

import bisect
import gzip
import heapq
import io
import json
import random
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, TextIO

from domain.values import Kind, add_months

FORMAT = "dangvien.commands/1"
PARTY_FOUNDED = date(1930, 2, 3)
FIRST_ADMISSIONS = date(1960, 1, 1)
HISTORY_STARTS = date(2016, 1, 1)
HISTORY_ENDS = date(2025, 12, 31)
RESTRUCTURING_DAY = date(2025, 7, 1)
TREE_CHANGES = (4, 1)  # Month and day of the yearly foundings and mergers of cells.
PLANS = (1, 15)  # Month and day the year's admission plans are set.
TERM = "2020-2025"
TERM_PLANS_SET = date(2020, 10, 20)
RECORDED_BY = "synthetic"

# Relative weight of each month in ceremonies: around 3 February, 19 May and 2 September.
MONTH_WEIGHTS = (0.8, 1.3, 1.0, 0.9, 1.2, 1.0, 0.9, 0.8, 1.2, 1.0, 0.9, 1.0)
_MONTH_SHARE = tuple(w / sum(MONTH_WEIGHTS) * 12 for w in MONTH_WEIGHTS)

# Where an official or temporary transfer goes, from the member's cell.
TRANSFER_LEVELS = (
    ("grassroots", 0.25),  # another cell of the same grassroots committee
    ("upper_grassroots", 0.25),  # another cell under the same district, commune or bloc committee
    ("province", 0.35),  # anywhere in the same province
    ("country", 0.15),  # another province
)


@dataclass(frozen=True)
class Rates:
    """National figures a year at scale 1.0 (shared/DOMAIN.md); the generator scales the counts."""

    members_at_end: int = 5_600_000
    admissions: int = 200_000
    official_transfers: int = 260_000
    temporary_transfers: int = 90_000
    deaths: int = 48_000
    expulsions: int = 4_000
    delistings: int = 10_000
    voluntary_exits: int = 2_500
    probation_not_confirmed: float = 0.03  # of admissions: delisted when probation ends
    transfers_cancelled: float = 0.02  # of official transfers, before reception
    restorations: float = 0.05  # of expelled or delisted official members, 3 to 18 months later
    readmissions: float = 0.03  # of delisted members and voluntary exits, 36 to 60 months later
    cells_founded: float = 0.004  # of cells, each year
    cells_merged: float = 0.002  # of cells, each year
    cells_merged_in_2025: float = 0.04  # of cells, on the day of the restructuring

    def net_growth(self) -> float:
        """Members gained in a year: admissions confirmed or not, less every removal."""
        removals = self.deaths + self.expulsions + self.delistings + self.voluntary_exits
        return self.admissions * (1 - self.probation_not_confirmed) - removals


RATES = Rates()


# The 34 provinces and cities of July 2025, each with the provinces merged into it, in the order a
# smaller country takes them (the largest first).
PROVINCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Hà Nội", ()),
    ("Hồ Chí Minh", ("Bình Dương", "Bà Rịa - Vũng Tàu")),
    ("Hải Phòng", ("Hải Dương",)),
    ("Đà Nẵng", ("Quảng Nam",)),
    ("Cần Thơ", ("Sóc Trăng", "Hậu Giang")),
    ("Thanh Hóa", ()),
    ("Nghệ An", ()),
    ("Ninh Bình", ("Hà Nam", "Nam Định")),
    ("Phú Thọ", ("Vĩnh Phúc", "Hòa Bình")),
    ("Bắc Ninh", ("Bắc Giang",)),
    ("Hưng Yên", ("Thái Bình",)),
    ("Quảng Ninh", ()),
    ("Đồng Nai", ("Bình Phước",)),
    ("Tây Ninh", ("Long An",)),
    ("Vĩnh Long", ("Bến Tre", "Trà Vinh")),
    ("Đồng Tháp", ("Tiền Giang",)),
    ("An Giang", ("Kiên Giang",)),
    ("Cà Mau", ("Bạc Liêu",)),
    ("Lâm Đồng", ("Đắk Nông", "Bình Thuận")),
    ("Đắk Lắk", ("Phú Yên",)),
    ("Gia Lai", ("Bình Định",)),
    ("Khánh Hòa", ("Ninh Thuận",)),
    ("Quảng Ngãi", ("Kon Tum",)),
    ("Quảng Trị", ("Quảng Bình",)),
    ("Huế", ()),
    ("Hà Tĩnh", ()),
    ("Tuyên Quang", ("Hà Giang",)),
    ("Lào Cai", ("Yên Bái",)),
    ("Thái Nguyên", ("Bắc Kạn",)),
    ("Lạng Sơn", ()),
    ("Cao Bằng", ()),
    ("Sơn La", ()),
    ("Điện Biên", ()),
    ("Lai Châu", ()),
)
CITIES = frozenset({"Hà Nội", "Hồ Chí Minh", "Hải Phòng", "Đà Nẵng", "Cần Thơ", "Huế"})
BIG = {"Hà Nội": 4.0, "Hồ Chí Minh": 3.0}

FAMILY_NAMES = (
    ("Nguyễn", 38), ("Trần", 11), ("Lê", 9.5), ("Phạm", 7), ("Hoàng", 5), ("Huỳnh", 4), ("Phan", 4.5),
    ("Vũ", 4), ("Võ", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 1.5), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1),
    ("Lý", 0.5),
)
MIDDLE_NAMES = (
    ("Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Thanh", "Công", "Đình", "Ngọc", "Anh", "Quốc", "Tiến",
     "Trọng", "Mạnh", "Hoàng"),
    ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Phương", "Hồng", "Kim", "Thùy", "Diệu", "Bích", "Mai", "Lan",
     "Khánh", "Hải", "Quỳnh"),
)
GIVEN_NAMES = (
    ("An", "Bình", "Cường", "Dũng", "Đức", "Giang", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khang", "Khánh",
     "Kiên", "Long", "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Thành", "Thịnh",
     "Toàn", "Trung", "Tuấn", "Việt", "Vinh", "Vũ"),
    ("An", "Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hương", "Huyền", "Lan", "Linh",
     "Loan", "Mai", "My", "Nga", "Ngân", "Nhung", "Oanh", "Phương", "Quyên", "Tâm", "Thảo", "Thủy", "Trang",
     "Trinh", "Uyên", "Vân", "Xuân", "Yến"),
)
SEXES = ("male", "female")
ETHNICITIES = (
    ("Kinh", 82), ("Tày", 3), ("Thái", 3), ("Mường", 2.5), ("Nùng", 2), ("Khmer", 1.5), ("H'Mông", 1.5),
    ("Dao", 1), ("Hoa", 0.5), ("Gia Rai", 0.5), ("Ê Đê", 0.5), ("Ba Na", 0.5),
)
RELIGIONS = ((None, 94), ("Phật giáo", 2.5), ("Công giáo", 2), ("Tin Lành", 0.5), ("Cao Đài", 0.5), ("Hòa Hảo", 0.5))
EDUCATION = (("primary", 0.5), ("lower_secondary", 12), ("upper_secondary", 87.5))
PROFESSIONAL = (("none", 12), ("vocational", 15), ("college", 10), ("university", 55), ("master", 7), ("doctorate", 1))
THEORY = (("none", 30), ("elementary", 55), ("intermediate", 12), ("advanced", 3))
OCCUPATIONS = (
    ("civil_servant", 12), ("public_employee", 25), ("state_enterprise", 5), ("non_state_enterprise", 12),
    ("farmer", 20), ("armed_forces", 10), ("student", 6), ("other", 10),
)
# Mixed radix of a packed person profile, one digit per field.
_RADIX = (2, len(FAMILY_NAMES), 16, 32, len(ETHNICITIES), len(RELIGIONS), 2, len(EDUCATION), len(PROFESSIONAL),
          len(THEORY), len(OCCUPATIONS))

GRASSROOTS_COMMITTEE_KINDS = ("trường", "bệnh viện", "công ty", "xã", "phường", "cơ quan", "quân sự", "công an")
CELL_KINDS = ("thôn", "khu phố", "phòng", "khoa", "tổ", "phân xưởng", "bộ môn", "đội")
GRASSROOTS_CELL_KINDS = ("thôn", "khu dân cư", "trường", "trạm y tế", "doanh nghiệp", "hợp tác xã", "cơ quan")

# Status of a member in the generator's arrays.
NONE, PROBATIONARY, OFFICIAL, DECEASED, EXPELLED, DELISTED, EXITED = range(7)
REMOVAL_STATUS = {"deceased": DECEASED, "expelled": EXPELLED, "delisted": DELISTED, "voluntary_exit": EXITED}
READMITTED, RESTORED = 1, 2  # Flags.

# Kinds of scheduled work, in the order they run on the same day.
CONFIRM, NOT_CONFIRMED, RECEIVE, CANCEL, RETURN, RESTORE, READMIT = range(7)


@dataclass(frozen=True)
class Shape:
    """How many organizations of each kind, and members, a country of this scale has."""

    scale: float
    provinces: int  # after 1 July 2025
    provinces_before: int
    districts: int
    blocs: int
    communes: int
    grassroots_committees: int
    grassroots_cells: int
    cells: int  # under grassroots committees and sub-committees
    members_at_end: int
    members_at_start: int

    @classmethod
    def at(cls, scale: float, rates: Rates = RATES) -> Shape:
        """The shape of the country at `scale` (1.0: 34 provinces, 52,000 grassroots organizations)."""
        if not 0 < scale <= 2:
            raise ValueError("scale must be above 0 and at most 2")
        provinces = min(len(PROVINCES), max(2, round(34 * scale)))
        mergeable = sum(len(merged) for _, merged in PROVINCES[:provinces])
        provinces_before = provinces + min(mergeable, max(1, round(63 * scale) - provinces))
        grassroots = max(4, round(52_000 * scale))
        committees = max(1, round(grassroots / 3))
        grassroots_cells = grassroots - committees
        members_at_end = max(500, round(rates.members_at_end * scale))
        members_at_start = max(100, round(members_at_end - 10 * rates.net_growth() * scale))
        return cls(
            scale=scale,
            provinces=provinces,
            provinces_before=provinces_before,
            districts=max(provinces_before, round(694 * scale)),
            blocs=max(provinces, round(80 * scale)),
            communes=max(provinces, round(3_220 * scale)),
            grassroots_committees=committees,
            grassroots_cells=grassroots_cells,
            cells=max(committees, round(270_000 * scale) - grassroots_cells),
            members_at_end=members_at_end,
            members_at_start=members_at_start,
        )


@dataclass
class Summary:
    """What a generated file holds: commands by name and year, and the country at the end."""

    scale: float
    seed: int
    lines: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    by_year: dict[int, Counter[str]] = field(default_factory=dict)
    transfer_levels: Counter[str] = field(default_factory=Counter)
    organizations: Counter[str] = field(default_factory=Counter)
    members_at_start: int = 0
    members_at_end: int = 0
    probationary_at_end: int = 0

    def count(self, year: int, what: str, n: int = 1) -> None:
        """Count `n` of something that happened in `year`."""
        self.by_year.setdefault(year, Counter())[what] += n

    def yearly(self, what: str) -> float:
        """The mean yearly count of something over 2016-2025."""
        years = range(HISTORY_STARTS.year, HISTORY_ENDS.year + 1)
        return sum(self.by_year.get(y, Counter())[what] for y in years) / len(years)


class Org:
    """An organization as the generator tracks it."""

    __slots__ = ("index", "code", "name", "kind", "parent", "founded", "successor", "weight", "made")

    def __init__(self, index: int, code: str, name: str, kind: Kind, parent: int | None, founded: date) -> None:
        self.index = index
        self.code = code
        self.name = name
        self.kind = kind
        self.parent = parent
        self.founded = founded
        self.successor: int | None = None  # when it ends: the index it merged into, or -1 if dissolved
        self.weight = 0.0  # share of the country's members, for cells
        self.made = 0  # children founded under it so far, to number their codes

    @property
    def active(self) -> bool:
        """Whether the organization still exists (not merged or dissolved)."""
        return self.successor is None


@dataclass
class CellPlace:
    """Where a cell sits: its grassroots organization, upper-grassroots committee and province."""

    grassroots: int
    upper: int | None
    province: int
    issuer: str  # the committee that decides on its members (the competent committee)


def slug(name: str) -> str:
    """`Bà Rịa - Vũng Tàu` → `BARIAVUNGTAU`: a province's code."""
    folded = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in folded if c.isalnum() and not unicodedata.combining(c)).upper()


def _cumulative(pairs: tuple[tuple[Any, float], ...]) -> tuple[tuple[Any, ...], list[float]]:
    return tuple(v for v, _ in pairs), list(accumulate(w for _, w in pairs))


class Country:
    """The generator's state: the tree, every member in flat arrays, and the work scheduled ahead."""

    def __init__(self, scale: float, seed: int, rates: Rates = RATES) -> None:
        self.shape = Shape.at(scale, rates)
        self.rates = rates
        self.seed = seed
        self.random = random.Random(seed)
        self.orgs: list[Org] = []
        self.summary = Summary(scale, seed)
        # Members, by index: national ID, packed profile, birth day, cell, status, flags, slot in `live`.
        self.national_ids = array("q")
        self.profiles = array("q")
        self.births = array("i")
        self.cells = array("i")
        self.slots = array("i")
        self.status = bytearray()
        self.flags = bytearray()
        self.live = array("i")  # members on a roster now, in any order, for picking at random
        self.transfers: dict[int, tuple[int, str, int, int]] = {}  # member -> (seq, kind, to, until day)
        self.queue: list[tuple[int, int, int, int, int]] = []  # (day, seq, work, member, token)
        self._seq = 0
        self._serials: Counter[int] = Counter()
        self.write: Callable[[dict[str, Any]], None] = lambda command: None
        self.places: dict[int, CellPlace] = {}
        self.province_names: dict[int, str] = {}  # province index -> plain name (Hà Nội)
        self.districts: list[int] = []
        self._tables = {
            "family": _cumulative(FAMILY_NAMES),
            "ethnicity": _cumulative(ETHNICITIES),
            "religion": _cumulative(RELIGIONS),
            "education": _cumulative(EDUCATION),
            "professional": _cumulative(PROFESSIONAL),
            "theory": _cumulative(THEORY),
            "occupation": _cumulative(OCCUPATIONS),
        }

    # --- random helpers ------------------------------------------------------------------------

    def _draw(self, table: str) -> int:
        values, cumulative = self._tables[table]
        return bisect.bisect(cumulative, self.random.random() * cumulative[-1])

    def _count(self, expected: float) -> int:
        """A whole number whose mean is `expected` (stochastic rounding)."""
        return int(expected + self.random.random())

    def _days(self, low: int, high: int) -> timedelta:
        return timedelta(days=self.random.randint(low, high))

    def _decision(self, issued_on: date, issuer: str | None, suffix: str = "ĐU") -> dict[str, Any]:
        decision = {"number": f"{self.random.randint(1, 9999)}-QĐ/{suffix}", "issued_on": issued_on.isoformat()}
        if issuer is not None:
            decision["issued_by"] = issuer
        return decision

    def _schedule(self, day: date, work: int, member: int, token: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self.queue, (day.toordinal(), self._seq, work, member, token))

    # --- the tree ------------------------------------------------------------------------------

    def _org(self, code: str, name: str, kind: Kind, parent: int | None, founded: date) -> Org:
        org = Org(len(self.orgs), code, name, kind, parent, founded)
        self.orgs.append(org)
        if parent is not None:
            self.orgs[parent].made += 1
        return org

    def _child_code(self, parent: int, letter: str) -> str:
        made = self.orgs[parent].made + 1
        return f"{self.orgs[parent].code}.{letter}{made:02d}"

    def _window(self, first: date, last: date) -> date:
        return first + timedelta(days=self.random.randint(0, (last - first).days))

    def _allocate(self, total: int, weights: list[float], minimum: int = 1) -> list[int]:
        """Share `total` among the weights, at least `minimum` each, at random in proportion."""
        counts = [minimum] * len(weights)
        rest = total - minimum * len(weights)
        if rest > 0:
            cumulative = list(accumulate(weights))
            for _ in range(rest):
                counts[bisect.bisect(cumulative, self.random.random() * cumulative[-1])] += 1
        return counts

    def _gamma(self, shape: float) -> float:
        return self.random.gammavariate(shape, 1 / shape)

    def build_tree(self) -> list[Org]:
        """Every organization of the country before 2016, in the order they are founded."""
        shape, rnd = self.shape, self.random
        central = self._org("TW", "Ban Chấp hành Trung ương Đảng", Kind.CENTRAL, None, PARTY_FOUNDED)
        provinces: list[Org] = []
        survivors = PROVINCES[: shape.provinces]
        merged = [m for _, ms in survivors for m in ms][: shape.provinces_before - shape.provinces]
        for name in [s for s, _ in survivors] + merged:
            kind = "thành phố" if name in CITIES else "tỉnh"
            org = self._org(slug(name), f"Đảng bộ {kind} {name}", Kind.PROVINCIAL, central.index,
                            self._window(date(1930, 3, 1), date(1945, 12, 31)))
            org.weight = BIG.get(name, self._gamma(4))
            self.province_names[org.index] = name
            provinces.append(org)
        # District committees until 2025, and bloc committees directly under each province.
        uppers: list[Org] = []
        for province, n in zip(provinces, self._allocate(shape.districts, [p.weight for p in provinces])):
            for _ in range(n):
                code = self._child_code(province.index, "H")
                org = self._org(code, f"Đảng bộ huyện {code.rsplit('.', 1)[1][1:]} ({self.province_names[province.index]})",
                                Kind.UPPER_GRASSROOTS, province.index, self._window(date(1946, 1, 1), date(1954, 12, 31)))
                org.weight = province.weight / n * self._gamma(3)
                self.districts.append(org.index)
                uppers.append(org)
        survivor_provinces = provinces[: shape.provinces]
        for province, n in zip(survivor_provinces, self._allocate(shape.blocs, [p.weight for p in survivor_provinces], 0)):
            for i in range(n):
                code = self._child_code(province.index, "K")
                what = ("các cơ quan", "doanh nghiệp", "y tế", "giáo dục")[i % 4]
                org = self._org(code, f"Đảng bộ Khối {what} ({self.province_names[province.index]})", Kind.UPPER_GRASSROOTS,
                                province.index, self._window(date(1946, 1, 1), date(1954, 12, 31)))
                org.weight = 0.25 * province.weight / max(1, n) * self._gamma(3)
                uppers.append(org)
        # Grassroots organizations: most under an upper-grassroots committee, a few under a province.
        grassroots_parents = uppers + provinces
        weights = [u.weight for u in uppers] + [0.01 * p.weight for p in provinces]
        cumulative = list(accumulate(weights))
        kinds = [Kind.GRASSROOTS_COMMITTEE] * shape.grassroots_committees + [Kind.GRASSROOTS_CELL] * shape.grassroots_cells
        rnd.shuffle(kinds)
        grassroots: list[Org] = []
        for kind in kinds:
            parent = grassroots_parents[bisect.bisect(cumulative, rnd.random() * cumulative[-1])]
            code = self._child_code(parent.index, "G")
            number = code.rsplit(".", 1)[1][1:]
            if kind is Kind.GRASSROOTS_COMMITTEE:
                name = f"Đảng bộ {rnd.choice(GRASSROOTS_COMMITTEE_KINDS)} {number}"
            else:
                name = f"Chi bộ {rnd.choice(GRASSROOTS_CELL_KINDS)} {number}"
            org = self._org(code, name, kind, parent.index, self._window(date(1955, 1, 1), date(1957, 12, 31)))
            if kind is Kind.GRASSROOTS_CELL:
                org.weight = 14 * self._gamma(2.5)
            grassroots.append(org)
        # Cells under grassroots committees; some committees keep sub-committees of cells.
        committees = [g for g in grassroots if g.kind is Kind.GRASSROOTS_COMMITTEE]
        sub_committees: list[Org] = []
        cells: list[Org] = []
        for committee, n in zip(committees, self._allocate(shape.cells, [self._gamma(1.5) for _ in committees])):
            holders = [committee]
            if n >= 8 and rnd.random() < 0.12:
                for _ in range(rnd.randint(2, 4)):
                    code = self._child_code(committee.index, "B")
                    sub = self._org(code, f"Đảng bộ bộ phận {code.rsplit('.', 1)[1][1:]}", Kind.SUB_COMMITTEE,
                                    committee.index, self._window(date(1958, 1, 1), date(1958, 6, 30)))
                    sub_committees.append(sub)
                    holders.append(sub)
            for _ in range(n):
                parent = rnd.choice(holders)
                code = self._child_code(parent.index, "C")
                org = self._org(code, f"Chi bộ {rnd.choice(CELL_KINDS)} {code.rsplit('.', 1)[1][1:]}", Kind.CELL,
                                parent.index, self._window(date(1958, 7, 1), date(1959, 12, 31)))
                org.weight = 21.7 * self._gamma(2.5)
                cells.append(org)
        order = [central]
        for level in (provinces, uppers, grassroots, sub_committees, cells):
            order += sorted(level, key=lambda o: (o.founded, o.index))
        return order

    def holder(self, index: int) -> int:
        """The organization that holds today what `index` held: itself, or whom it merged into."""
        org = self.orgs[index]
        while org.successor is not None and org.successor >= 0:
            org = self.orgs[org.successor]
        return org.index

    def _ancestor(self, index: int, kinds: tuple[Kind, ...]) -> int | None:
        current: int | None = index
        while current is not None:
            org = self.orgs[current]
            if org.kind in kinds:
                return current
            current = org.parent
        return None

    def reindex(self) -> None:
        """Recompute where each active cell sits, and the tables to pick cells from."""
        self.places = {}
        self.cell_list: list[int] = []
        self.by_grassroots: dict[int, list[int]] = {}
        self.by_upper: dict[int, list[int]] = {}
        self.by_province: dict[int, list[int]] = {}
        self.by_parent: dict[int, list[int]] = {}
        self.weight_of: Counter[int] = Counter()
        for org in self.orgs:
            if not org.active or not org.kind.holds_members:
                continue
            grassroots = self._ancestor(org.index, (Kind.GRASSROOTS_COMMITTEE, Kind.GRASSROOTS_CELL))
            upper = self._ancestor(org.index, (Kind.UPPER_GRASSROOTS,))
            province = self._ancestor(org.index, (Kind.PROVINCIAL,))
            assert grassroots is not None and province is not None and org.parent is not None
            issuer = self.orgs[grassroots if org.kind is Kind.CELL else org.parent].code
            self.places[org.index] = CellPlace(grassroots, upper, province, issuer)
            self.cell_list.append(org.index)
            self.by_grassroots.setdefault(grassroots, []).append(org.index)
            self.by_province.setdefault(province, []).append(org.index)
            self.by_parent.setdefault(org.parent, []).append(org.index)
            if upper is not None:
                self.by_upper.setdefault(upper, []).append(org.index)
            for ancestor in (upper, province):
                if ancestor is not None:
                    self.weight_of[ancestor] += org.weight
        self.cell_weights = list(accumulate(self.orgs[c].weight for c in self.cell_list))

    def pick_cell(self) -> int:
        """A cell at random, in proportion to its share of the country's members."""
        weights = self.cell_weights
        return self.cell_list[bisect.bisect(weights, self.random.random() * weights[-1])]

    # --- members -------------------------------------------------------------------------------

    def _profile(self, admitted_on: date, before_history: bool) -> tuple[int, int, bool]:
        """A new person's packed profile, birth day and sex (female), for an admission on `admitted_on`."""
        rnd = self.random
        if before_history:
            age = 18.1 + rnd.gammavariate(2, 3.5)
            age = min(age, 35 if admitted_on.year < 1980 else 59)
        else:
            age = min(18.1 + rnd.gammavariate(1.6, 5.0), 59.5)
        birth = admitted_on - timedelta(days=int(age * 365.25))
        sex = 1 if rnd.random() < (0.3 if before_history else 0.46) else 0
        youth = 1 if rnd.random() < (0.85 if age <= 30 else 0.05) else 0
        digits = (
            sex, self._draw("family"), rnd.randrange(16), rnd.randrange(32), self._draw("ethnicity"),
            self._draw("religion"), youth, self._draw("education"), self._draw("professional"),
            self._draw("theory"), self._draw("occupation"),
        )
        packed = 0
        for digit, radix in zip(digits, _RADIX):
            packed = packed * radix + digit
        return packed, birth.toordinal(), sex == 1

    def person(self, member: int) -> tuple[dict[str, Any], bool]:
        """The person body of a member, and whether the admission is in a designated hard area."""
        packed = self.profiles[member]
        digits = []
        for radix in reversed(_RADIX):
            packed, digit = divmod(packed, radix)
            digits.append(digit)
        sex, family, middle, given, ethnicity, religion, youth, education, professional, theory, occupation = reversed(digits)
        body: dict[str, Any] = {
            "national_id": f"{self.national_ids[member]:012d}",
            "full_name": f"{FAMILY_NAMES[family][0]} {MIDDLE_NAMES[sex][middle]} {GIVEN_NAMES[sex][given]}",
            "birth_date": date.fromordinal(self.births[member]).isoformat(),
            "sex": SEXES[sex],
            "ethnicity": ETHNICITIES[ethnicity][0],
        }
        if RELIGIONS[religion][0] is not None:
            body["religion"] = RELIGIONS[religion][0]
        body["youth_union_member"] = bool(youth)
        body["education"] = EDUCATION[education][0]
        body["professional_level"] = PROFESSIONAL[professional][0]
        body["political_theory"] = THEORY[theory][0]
        body["occupation"] = OCCUPATIONS[occupation][0]
        return body, EDUCATION[education][0] == "primary"

    def _national_id(self, province: int, birth: date, sex_female: bool) -> int:
        """A 12-digit CCCD: province code, century and sex, year of birth, then a serial."""
        century = (0 if birth.year < 2000 else 2) + (1 if sex_female else 0)
        prefix = ((province % 96) + 1) * 1000 + century * 100 + birth.year % 100
        serial = self._serials[prefix]
        self._serials[prefix] += 1
        # 7919 is prime to 10^6: the serials of one prefix are distinct and look random.
        return prefix * 1_000_000 + (serial * 7919 + self.seed) % 1_000_000

    def _add_live(self, member: int) -> None:
        self.slots[member] = len(self.live)
        self.live.append(member)

    def _remove_live(self, member: int) -> None:
        slot = self.slots[member]
        last = self.live.pop()
        if last != member:
            self.live[slot] = last
            self.slots[last] = slot
        self.slots[member] = -1

    def _member_ref(self, member: int) -> dict[str, str]:
        return {"national_id": f"{self.national_ids[member]:012d}"}

    def admit(self, day: date, cell: int, before_history: bool) -> None:
        """Admit a new person to `cell` on `day`; schedule the confirmation (or its refusal)."""
        member = len(self.status)
        packed, birth, sex_female = self._profile(day, before_history)
        province = self.places[cell].province
        self.national_ids.append(self._national_id(province, date.fromordinal(birth), sex_female))
        self.profiles.append(packed)
        self.births.append(birth)
        self.cells.append(cell)
        self.slots.append(-1)
        self.status.append(PROBATIONARY)
        self.flags.append(0)
        self._add_live(member)
        self._write_admission(day, member, cell)
        self._schedule_probation_end(day, member, before_history)

    def _write_admission(self, day: date, member: int, cell: int) -> None:
        body, hard_area = self.person(member)
        place = self.places[cell]
        command: dict[str, Any] = {
            "command": "admit",
            "organization": self.orgs[cell].code,
            "person": body,
            "admitted_on": day.isoformat(),
            "decision": self._decision(day - self._days(0, 25), place.issuer),
        }
        if hard_area:
            command["hard_area"] = True
        self.write(command)
        self.summary.count(day.year, "admissions")

    def _schedule_probation_end(self, day: date, member: int, before_history: bool) -> None:
        ends = add_months(day, 12)
        fails = not before_history and self.random.random() < self.rates.probation_not_confirmed
        self._schedule(ends + self._days(3, 75), NOT_CONFIRMED if fails else CONFIRM, member)

    def _pick_live(self, free_of_transfer: bool) -> int | None:
        for _ in range(20):
            member = self.live[self.random.randrange(len(self.live))]
            if not free_of_transfer or member not in self.transfers:
                return member
        return None

    def _pick_destination(self, source: int) -> tuple[int, str] | None:
        """Another active cell for a transfer out of `source`, at a level drawn from TRANSFER_LEVELS
        (or a wider one when the drawn level has no other cell)."""
        rnd = self.random
        place = self.places[source]
        draw = rnd.random()
        first = len(TRANSFER_LEVELS) - 1
        for i, (_, share) in enumerate(TRANSFER_LEVELS):
            if draw < share:
                first = i
                break
            draw -= share
        for level, _ in TRANSFER_LEVELS[first:]:
            if level == "country":
                for _ in range(10):
                    cell = self.pick_cell()
                    if self.places[cell].province != place.province:
                        return cell, level
                continue
            if level == "grassroots":
                options = self.by_grassroots.get(place.grassroots, [])
            elif level == "upper_grassroots":
                options = self.by_upper.get(place.upper, []) if place.upper is not None else []
            else:
                options = self.by_province[place.province]
            if len(options) > 1:
                for _ in range(10):
                    cell = rnd.choice(options)
                    if cell != source:
                        return cell, level
        return None

    def transfer(self, day: date, kind: str) -> None:
        """Issue an official or temporary transfer of a member to another cell."""
        member = self._pick_live(free_of_transfer=True)
        if member is None:
            return
        source = self.holder(self.cells[member])
        found = self._pick_destination(source)
        if found is None:
            return
        destination, level = found
        rnd = self.random
        command: dict[str, Any] = {
            "command": "issue_transfer",
            "organization": self.orgs[source].code,
            "member": self._member_ref(member),
            "to": self.orgs[destination].code,
            "kind": kind,
            "issued_on": day.isoformat(),
        }
        self._seq += 1
        token = self._seq
        until = 0
        if kind == "temporary":
            study = rnd.random() < 0.2
            months = rnd.randint(6, 24) if study else rnd.randint(3, 11)
            until = add_months(day, months).toordinal()
            command["until"] = date.fromordinal(until).isoformat()
            if study:
                command["purpose"] = "study"
            self._schedule(day + self._days(2, 15), RECEIVE, member, token)
        elif rnd.random() < self.rates.transfers_cancelled:
            self._schedule(day + self._days(10, 40), CANCEL, member, token)
        else:
            self._schedule(day + self._days(5, 40), RECEIVE, member, token)
        command["decision"] = self._decision(day, self.places[source].issuer)
        self.write(command)
        self.transfers[member] = (token, kind, destination, until)
        self.summary.count(day.year, f"{kind}_transfers")
        self.summary.transfer_levels[level] += 1

    def remove(self, day: date, member: int, reason: str) -> None:
        """Remove a member from the Party; maybe schedule a restoration or a readmission."""
        cell = self.holder(self.cells[member])
        was_official = self.status[member] == OFFICIAL
        self.write(
            {
                "command": "remove_member",
                "organization": self.orgs[cell].code,
                "member": self._member_ref(member),
                "reason": reason,
                "effective_on": day.isoformat(),
                "decision": self._decision(day - self._days(0, 20), self.places[cell].issuer),
            }
        )
        self.cells[member] = cell
        self.status[member] = REMOVAL_STATUS[reason]
        self.transfers.pop(member, None)
        self._remove_live(member)
        self.summary.count(day.year, reason)
        rnd = self.random
        if reason in ("expelled", "delisted") and was_official and rnd.random() < self.rates.restorations:
            self._schedule(day + self._days(90, 540), RESTORE, member)
        elif reason in ("delisted", "voluntary_exit") and rnd.random() < self.rates.readmissions:
            self._schedule(add_months(day, 36) + self._days(1, 700), READMIT, member)

    def _age(self, member: int, day: date) -> float:
        return (day.toordinal() - self.births[member]) / 365.25

    def die(self, day: date) -> None:
        """A member dies: the older, the likelier."""
        rnd = self.random
        for _ in range(200):
            member = self.live[rnd.randrange(len(self.live))]
            age = self._age(member, day)
            if rnd.random() < min(1.0, 2.0 ** ((age - 95) / 7)):
                self.remove(day, member, "deceased")
                return

    # --- the scheduled work --------------------------------------------------------------------

    def run_due(self, day: date) -> None:
        """Do the work scheduled for `day`, in the order it was scheduled."""
        ordinal = day.toordinal()
        queue = self.queue
        while queue and queue[0][0] <= ordinal:
            _, _, work, member, token = heapq.heappop(queue)
            if work in (CONFIRM, NOT_CONFIRMED):
                if self.status[member] != PROBATIONARY:
                    continue
                if work == NOT_CONFIRMED:
                    self.remove(day, member, "delisted")
                    continue
                cell = self.holder(self.cells[member])
                self.write(
                    {
                        "command": "confirm_membership",
                        "organization": self.orgs[cell].code,
                        "member": self._member_ref(member),
                        "decided_on": day.isoformat(),
                        "decision": self._decision(day, self.places[cell].issuer),
                    }
                )
                self.status[member] = OFFICIAL
                self.summary.count(day.year, "confirmations")
            elif work in (RECEIVE, CANCEL, RETURN):
                self._settle_transfer(day, work, member, token)
            elif work == RESTORE:
                if self.status[member] not in (EXPELLED, DELISTED) or self.flags[member] & RESTORED:
                    continue
                cell = self.holder(self.cells[member])
                self.write(
                    {
                        "command": "restore_member",
                        "organization": self.orgs[cell].code,
                        "national_id": f"{self.national_ids[member]:012d}",
                        "restored_on": day.isoformat(),
                        "decision": self._decision(day, self.places[cell].issuer),
                    }
                )
                self.cells[member] = cell
                self.status[member] = OFFICIAL
                self.flags[member] |= RESTORED
                self._add_live(member)
                self.summary.count(day.year, "restored")
            elif work == READMIT:
                if self.status[member] not in (DELISTED, EXITED) or self.flags[member] & READMITTED:
                    continue
                if self._age(member, day) > 59.5:
                    continue
                cell = self.pick_cell()
                self.cells[member] = cell
                self.status[member] = PROBATIONARY
                self.flags[member] |= READMITTED
                self._add_live(member)
                self._write_admission(day, member, cell)
                self._schedule_probation_end(day, member, before_history=False)
                self.summary.count(day.year, "readmitted")

    def _settle_transfer(self, day: date, work: int, member: int, token: int) -> None:
        open_transfer = self.transfers.get(member)
        if open_transfer is None or open_transfer[0] != token:
            return  # the member left the Party meanwhile
        _, kind, destination, until = open_transfer
        where = self.holder(destination)
        if work == CANCEL:
            cell = self.holder(self.cells[member])
            self.write(
                {
                    "command": "cancel_transfer",
                    "organization": self.orgs[cell].code,
                    "member": self._member_ref(member),
                    "cancelled_on": day.isoformat(),
                    "decision": self._decision(day, self.places[cell].issuer),
                }
            )
            del self.transfers[member]
            self.summary.count(day.year, "transfers_cancelled")
        elif work == RECEIVE:
            self.write(
                {
                    "command": "receive_transfer",
                    "organization": self.orgs[where].code,
                    "member": self._member_ref(member),
                    "received_on": day.isoformat(),
                }
            )
            if kind == "official":
                self.cells[member] = where
                del self.transfers[member]
            else:
                # The guest goes home on the day the temporary transfer ends.
                self._schedule(date.fromordinal(until), RETURN, member, token)
        else:
            self.write(
                {
                    "command": "end_temporary_transfer",
                    "organization": self.orgs[where].code,
                    "member": self._member_ref(member),
                    "returned_on": day.isoformat(),
                }
            )
            del self.transfers[member]

    # --- the tree over time --------------------------------------------------------------------

    def found(self, org: Org) -> None:
        """Write the founding of an organization."""
        parent = self.orgs[org.parent] if org.parent is not None else None
        command: dict[str, Any] = {
            "command": "found_organization",
            "code": org.code,
            "name": org.name,
            "kind": org.kind.value,
            "parent": parent.code if parent is not None else None,
            "founded_on": org.founded.isoformat(),
        }
        if parent is not None:
            command["decision"] = self._decision(org.founded, parent.code, "TW" if parent.kind is Kind.CENTRAL else "ĐU")
        self.write(command)
        self.summary.count(org.founded.year, "organizations_founded")

    def _restructure(self, day: date, org: Org, action: str, issuer: str, **fields: Any) -> None:
        self.write(
            {
                "command": "restructure",
                "organization": org.code,
                "action": action,
                "effective_on": day.isoformat(),
                **fields,
                "decision": self._decision(day - self._days(0, 30), issuer, "TU"),
            }
        )
        self.summary.count(day.year, f"restructure_{action}")

    def _province_of(self, index: int) -> Org:
        found = self._ancestor(index, (Kind.PROVINCIAL, Kind.CENTRAL))
        assert found is not None
        return self.orgs[found]

    def merge(self, day: date, source: int, target: int) -> None:
        """Merge an organization into another: its members, guests and children move there."""
        org = self.orgs[source]
        self._restructure(day, org, "merge", self._province_of(org.parent or source).code, into=self.orgs[target].code)
        org.successor = target
        if not org.kind.holds_members:
            for child in self.orgs:
                if child.parent == source and child.active:
                    child.parent = target
        self.orgs[target].weight += org.weight

    def yearly_tree_changes(self, day: date) -> None:
        """A few cells founded and a few merged into a sibling, as every year."""
        rnd = self.random
        cells = len(self.cell_list)
        committees = [o.index for o in self.orgs if o.active and o.kind in (Kind.GRASSROOTS_COMMITTEE, Kind.SUB_COMMITTEE)]
        uppers = [o.index for o in self.orgs if o.active and o.kind is Kind.UPPER_GRASSROOTS]
        for _ in range(self._count(cells * self.rates.cells_founded)):
            if rnd.random() < 0.7 and committees:
                parent = rnd.choice(committees)
                kind, letter, mean, words = Kind.CELL, "C", 21.7, CELL_KINDS
            else:
                parent = rnd.choice(uppers)
                kind, letter, mean, words = Kind.GRASSROOTS_CELL, "G", 14.0, GRASSROOTS_CELL_KINDS
            code = self._child_code(parent, letter)
            org = self._org(code, f"Chi bộ {rnd.choice(words)} {code.rsplit('.', 1)[1][1:]}", kind, parent, day)
            org.weight = mean * self._gamma(2.5)
            self.found(org)
        self._merge_cells(day, cells * self.rates.cells_merged)
        self.reindex()

    def _merge_cells(self, day: date, expected: float) -> None:
        rnd = self.random
        for _ in range(self._count(expected)):
            for _ in range(10):
                source = rnd.choice(self.cell_list)
                org = self.orgs[source]
                siblings = [c for c in self.by_parent.get(org.parent, []) if c != source and self.orgs[c].active
                            and self.orgs[c].kind is org.kind]
                if org.active and siblings:
                    self.merge(day, source, rnd.choice(siblings))
                    break

    def restructure_2025(self, day: date) -> None:
        """1 July 2025: provinces merged, district committees dissolved, communes founded, cells merged."""
        rnd = self.random
        shape = self.shape
        by_name = {name: self.orgs[index] for index, name in self.province_names.items()}
        for survivor, merged_names in PROVINCES[: shape.provinces]:
            for merged in merged_names:
                if merged in by_name:
                    self.merge(day, by_name[merged].index, by_name[survivor].index)
        # Communes in place of districts: each district's grassroots organizations go to a few communes.
        districts = [self.orgs[d] for d in self.districts]
        children: dict[int, list[Org]] = {d.index: [] for d in districts}
        for org in self.orgs:
            if org.active and org.parent in children:
                children[org.parent].append(org)
        under_districts = sum(len(c) for c in children.values())
        per_commune = max(1.0, under_districts / shape.communes)
        for district in districts:
            moved = children[district.index]
            province = self._province_of(district.index)
            place = self.province_names[province.index]
            communes: list[Org] = []
            for _ in range(max(1, round(len(moved) / per_commune))):
                code = self._child_code(province.index, "X")
                kind = "phường" if place in CITIES and rnd.random() < 0.6 else "xã"
                commune = self._org(code, f"Đảng bộ {kind} {code.rsplit('.', 1)[1][1:]} ({place})",
                                    Kind.UPPER_GRASSROOTS, province.index, day)
                self.found(commune)
                communes.append(commune)
            rnd.shuffle(moved)
            for i, org in enumerate(moved):
                commune = communes[i % len(communes)]
                self._restructure(day, org, "reparent", province.code, new_parent=commune.code)
                org.parent = commune.index
            self._restructure(day, district, "dissolve", province.code)
            district.successor = -1
        self.reindex()
        self._merge_cells(day, len(self.cell_list) * self.rates.cells_merged_in_2025)
        self.reindex()

    def set_plans(self, day: date) -> None:
        """The year's admission plans of every province and upper-grassroots committee."""
        yearly = self.rates.admissions * self.shape.scale
        total = self.cell_weights[-1]
        for org in self.orgs:
            if org.active and org.kind in (Kind.PROVINCIAL, Kind.UPPER_GRASSROOTS) and self.weight_of[org.index]:
                expected = yearly * self.weight_of[org.index] / total
                target = max(1, round(expected * self.random.uniform(0.9, 1.15)))
                self.write({"command": "set_plan", "organization": org.code, "period": str(day.year), "admissions": target})
                if day == TERM_PLANS_SET and org.kind is Kind.PROVINCIAL:
                    self.write({"command": "set_plan", "organization": org.code, "period": TERM, "admissions": 6 * target})

    # --- the whole history ---------------------------------------------------------------------

    def run(self) -> Summary:
        """Write the whole history through `self.write`; return what it holds."""
        for org in self.build_tree():
            self.found(org)
        self.reindex()
        shape, rates = self.shape, self.rates
        # Before 2016 only the members still alive on 1 January 2016 are recorded, more of them
        # from recent years.
        years = range(FIRST_ADMISSIONS.year, HISTORY_STARTS.year)
        weights = [0.3 + 1.2 * ((y - years[0]) / (len(years) - 1)) ** 1.2 for y in years]
        per_year = {y: shape.members_at_start * w / sum(weights) for y, w in zip(years, weights)}
        day = FIRST_ADMISSIONS
        scale = shape.scale
        while day <= HISTORY_ENDS:
            if day == HISTORY_STARTS:
                self.summary.members_at_start = len(self.live)
            if day == RESTRUCTURING_DAY:
                self.restructure_2025(day)
            if day >= HISTORY_STARTS and (day.month, day.day) == TREE_CHANGES and day.year < RESTRUCTURING_DAY.year:
                self.yearly_tree_changes(day)
            if day >= HISTORY_STARTS and ((day.month, day.day) == PLANS or day == TERM_PLANS_SET):
                self.set_plans(day)
            self.run_due(day)
            days_in_year = 366 if day.year % 4 == 0 else 365
            share = _MONTH_SHARE[day.month - 1] / days_in_year
            if day < HISTORY_STARTS:
                for _ in range(self._count(per_year[day.year] * share)):
                    self.admit(day, self.pick_cell(), before_history=True)
            else:
                for _ in range(self._count(rates.admissions * scale * share)):
                    self.admit(day, self.pick_cell(), before_history=False)
                for _ in range(self._count(rates.official_transfers * scale * share)):
                    self.transfer(day, "official")
                for _ in range(self._count(rates.temporary_transfers * scale * share)):
                    self.transfer(day, "temporary")
                for _ in range(self._count(rates.deaths * scale * share)):
                    self.die(day)
                for reason, yearly in (("expelled", rates.expulsions), ("delisted", rates.delistings),
                                       ("voluntary_exit", rates.voluntary_exits)):
                    for _ in range(self._count(yearly * scale * share)):
                        member = self._pick_live(free_of_transfer=False)
                        if member is not None:
                            self.remove(day, member, reason)
            day += timedelta(days=1)
        summary = self.summary
        summary.members_at_end = len(self.live)
        summary.probationary_at_end = sum(1 for m in self.live if self.status[m] == PROBATIONARY)
        summary.organizations = Counter(o.kind.value for o in self.orgs if o.active)
        return summary


def estimated_lines(shape: Shape, rates: Rates = RATES) -> int:
    """About how many commands a country of this shape takes (for a progress bar)."""
    organizations = 1 + shape.provinces_before + shape.districts + shape.blocs + shape.grassroots_committees \
        + shape.grassroots_cells + int(1.05 * shape.cells)
    yearly = (2 * rates.admissions + 2.05 * rates.official_transfers + 3 * rates.temporary_transfers
              + rates.deaths + rates.expulsions + rates.delistings + rates.voluntary_exits) * shape.scale
    restructuring = shape.grassroots_committees + shape.grassroots_cells + shape.communes + shape.districts
    return int(organizations + 2 * shape.members_at_start + 10 * yearly + restructuring)


def generate(
    out: TextIO,
    scale: float,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
    rates: Rates = RATES,
) -> Summary:
    """Write the synthetic country's history to `out` as NDJSON commands; return its summary.

    `progress(lines_written, estimated_total)` is called every few thousand lines.
    """
    country = Country(scale, seed, rates)
    header = {"format": FORMAT, "generator": "dangvien generate", "scale": scale, "seed": seed,
              "from": FIRST_ADMISSIONS.isoformat(), "to": HISTORY_ENDS.isoformat()}
    out.write(json.dumps(header, ensure_ascii=False) + "\n")
    estimate = estimated_lines(country.shape, rates)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    summary = country.summary
    write_line = out.write

    def write(command: dict[str, Any]) -> None:
        write_line(encode(command) + "\n")
        summary.lines += 1
        summary.commands[command["command"]] += 1
        if progress is not None and summary.lines % 5000 == 0:
            progress(summary.lines, max(estimate, summary.lines))

    country.write = write
    result = country.run()
    if progress is not None:
        progress(summary.lines, summary.lines)
    return result


def open_text(path: str | Path, mode: str) -> TextIO:
    """A text file in UTF-8, gzip-compressed when its name ends in `.gz`; `mode` is 'r' or 'w'."""
    if str(path).endswith(".gz"):
        # No time in the gzip header: the same scale and seed give the same file, byte for byte.
        compressed = gzip.GzipFile(path, mode + "b", compresslevel=1, mtime=0)
        return io.TextIOWrapper(compressed, encoding="utf-8")
    return open(path, mode, encoding="utf-8", buffering=1 << 20)

