"""Bulk import on both stores: command files and rosters through the Charter, in batches."""

from __future__ import annotations

import csv
import gc
import json
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from domain.ledger import Ledger
from service.importer import import_file
from service.synthetic import generate, open_text
from tests.builders import code, national_id

ROSTER_HEADER = ["Mã chi bộ", "Họ và tên", "Số CCCD", "Ngày sinh", "Giới tính", "Dân tộc", "Tôn giáo",
                 "Ngày vào Đảng", "Ngày chính thức"]


def decision(day: str) -> dict[str, Any]:
    """A decision issued on `day`."""
    return {"number": "12-QĐ/ĐU", "issued_on": day}


def tree() -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Codes and founding commands of a province, a commune, two grassroots cells, a committee and its cell."""
    province = code("HN")
    codes = {
        "province": province,
        "commune": f"{province}.BADINH",
        "cell_a": f"{province}.BADINH.KDC1",
        "cell_b": f"{province}.BADINH.KDC2",
        "committee": f"{province}.BADINH.BV",
        "cell_c": f"{province}.BADINH.BV.K1",
    }
    kinds = [("province", "provincial", None), ("commune", "upper_grassroots", "province"),
             ("cell_a", "grassroots_cell", "commune"), ("cell_b", "grassroots_cell", "commune"),
             ("committee", "grassroots_committee", "commune"), ("cell_c", "cell", "committee")]
    founding = [
        {"command": "found_organization", "code": codes[name], "name": f"Đảng bộ {name}", "kind": kind,
         "parent": codes[parent] if parent else None, "founded_on": "2015-01-01", "decision": decision("2015-01-01")}
        for name, kind, parent in kinds
    ]
    return codes, founding


def admission(cell: str, nid: str, on: str = "2021-03-15") -> dict[str, Any]:
    """An `admit` command for a person of 25."""
    person = {"national_id": nid, "full_name": "Nguyễn Thị Lan", "birth_date": "1996-01-10", "sex": "female",
              "ethnicity": "Kinh", "education": "upper_secondary"}
    return {"command": "admit", "organization": cell, "person": person, "admitted_on": on, "decision": decision(on)}


def write_commands(folder: Path, commands: list[dict[str, Any] | str], name: str = "commands.ndjson") -> Path:
    """An NDJSON file of these commands (a string is written as the line itself)."""
    path = folder / name
    with open_text(path, "w") as out:
        for command in commands:
            out.write((command if isinstance(command, str) else json.dumps(command, ensure_ascii=False)) + "\n")
    return path


def member_of(ledger: Ledger, nid: str) -> Any:
    """The member's file on the roster of the cell that holds the person now."""
    person = ledger.person(nid)
    assert person is not None and person.organization is not None
    return ledger.organization(person.organization).members[str(person.member_id)]


def test_every_command_of_a_file_goes_through_the_ledger(ledger: Ledger, tmp_path: Path) -> None:
    """Admission, confirmation by national ID, and an official transfer received: all applied."""
    codes, founding = tree()
    nid = national_id()
    member = {"national_id": nid}
    path = write_commands(tmp_path, [
        *founding,
        admission(codes["cell_a"], nid),
        {"command": "confirm_membership", "organization": codes["cell_a"], "member": member,
         "decided_on": "2022-04-01", "decision": decision("2022-04-01")},
        {"command": "issue_transfer", "organization": codes["cell_a"], "member": member, "to": codes["cell_b"],
         "kind": "official", "issued_on": "2022-05-01", "decision": decision("2022-05-01")},
        {"command": "receive_transfer", "organization": codes["cell_b"], "member": member, "received_on": "2022-05-20"},
    ])
    summary = import_file(ledger, path)
    assert (summary.applied, dict(summary.refused), summary.stopped) == (10, {}, None)
    assert ledger.person(nid).organization == codes["cell_b"]
    assert member_of(ledger, nid).official_since == date(2022, 3, 15)


def test_a_temporary_transfer_is_received_and_ended_by_naming_the_member(ledger: Ledger, tmp_path: Path) -> None:
    """The reception and the return concern the member's open transfer; the member stays home."""
    codes, founding = tree()
    nid = national_id()
    member = {"national_id": nid}
    path = write_commands(tmp_path, [
        *founding,
        admission(codes["cell_a"], nid),
        {"command": "issue_transfer", "organization": codes["cell_a"], "member": member, "to": codes["cell_c"],
         "kind": "temporary", "issued_on": "2021-06-01", "until": "2021-12-01", "decision": decision("2021-06-01")},
        {"command": "receive_transfer", "organization": codes["cell_c"], "member": member, "received_on": "2021-06-05"},
        {"command": "end_temporary_transfer", "organization": codes["cell_c"], "member": member,
         "returned_on": "2021-12-01"},
    ])
    summary = import_file(ledger, path)
    assert dict(summary.refused) == {}
    assert ledger.organization(codes["cell_c"]).guests == {}
    assert member_of(ledger, nid).transfer is None


def test_a_refused_command_is_reported_with_its_line_and_the_batch_goes_on(ledger: Ledger, tmp_path: Path) -> None:
    """Admitting an active member again is refused on its line; the commands around it are saved."""
    codes, founding = tree()
    first, second = national_id(), national_id()
    path = write_commands(tmp_path, [
        *founding,
        admission(codes["cell_a"], first),
        admission(codes["cell_b"], first),
        admission(codes["cell_b"], second),
    ])
    summary = import_file(ledger, path)
    assert [(r.line, r.code) for r in summary.refusals] == [(8, "already-a-member")]
    assert dict(summary.refused) == {"already-a-member": 1}
    assert ledger.person(first).organization == codes["cell_a"]
    assert ledger.person(second).organization == codes["cell_b"]


def test_a_command_naming_an_unknown_member_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    """A national ID never admitted is `member-not-found`."""
    codes, founding = tree()
    path = write_commands(tmp_path, [
        *founding,
        {"command": "remove_member", "organization": codes["cell_a"], "member": {"national_id": national_id()},
         "reason": "deceased", "effective_on": "2022-01-01", "decision": decision("2022-01-01")},
    ])
    assert dict(import_file(ledger, path).refused) == {"member-not-found": 1}


def test_a_malformed_line_drops_its_batch_and_keeps_the_batches_before(ledger: Ledger, tmp_path: Path) -> None:
    """With batches of three, a bad line 8 stops the import: lines 1-6 are saved, line 7 is not."""
    codes, founding = tree()
    nid = national_id()
    path = write_commands(tmp_path, [*founding, admission(codes["cell_a"], nid), "{not json"])
    before = ledger.recorder.max_notification_id()
    summary = import_file(ledger, path, batch_size=3)
    assert summary.stopped is not None and (summary.stopped.line, summary.resume_from) == (8, 7)
    assert ledger.person(nid) is None
    assert ledger.organization(codes["cell_c"]).is_active
    assert summary.position == ledger.recorder.max_notification_id() != before


def test_an_import_started_again_at_the_line_named_applies_the_rest(ledger: Ledger, tmp_path: Path) -> None:
    """Once the bad line is corrected, starting at `resume_from` applies what was dropped, nothing twice."""
    codes, founding = tree()
    nid = national_id()
    lines: list[dict[str, Any] | str] = [*founding, admission(codes["cell_a"], nid), '{"command": "admit"}']
    first = import_file(ledger, write_commands(tmp_path, lines), batch_size=3)
    lines[-1] = admission(codes["cell_b"], national_id())
    again = import_file(ledger, write_commands(tmp_path, lines), batch_size=3, start_line=first.resume_from or 1)
    assert (again.applied, dict(again.refused)) == (2, {})
    assert ledger.person(nid).organization == codes["cell_a"]


def test_the_summary_counts_the_events_recorded(ledger: Ledger, tmp_path: Path) -> None:
    """Events are the positions the import advanced the log by."""
    codes, founding = tree()
    before = ledger.recorder.max_notification_id() or 0
    summary = import_file(ledger, write_commands(tmp_path, [*founding, admission(codes["cell_a"], national_id())]))
    assert summary.events == (ledger.recorder.max_notification_id() or 0) - before > 0


def test_an_import_freezes_what_survives_its_batches_and_thaws_it_at_the_end(ledger: Ledger, tmp_path: Path) -> None:
    """The collector does not rescan the import's long-lived objects (domain.collector), and the
    process is left as it was."""
    codes, founding = tree()
    frozen: list[int] = []
    summary = import_file(
        ledger,
        write_commands(tmp_path, [*founding, admission(codes["cell_a"], national_id())]),
        batch_size=2,
        progress=lambda done, total: frozen.append(gc.get_freeze_count()),
    )
    assert summary.batches == len(frozen) > 1
    assert min(frozen) > 0
    assert gc.get_freeze_count() == 0


def write_csv(folder: Path, rows: list[list[str]]) -> Path:
    """A roster as a spreadsheet exports it: UTF-8 with a byte-order mark, Vietnamese headers."""
    path = folder / "roster.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([ROSTER_HEADER, *rows])
    return path


def test_a_csv_roster_admits_its_members_and_confirms_the_official_ones(ledger: Ledger, tmp_path: Path) -> None:
    """An official date confirms from the end of probation; a member without one stays probationary."""
    codes, founding = tree()
    import_file(ledger, write_commands(tmp_path, founding))
    official, probationary = national_id(), national_id()
    path = write_csv(tmp_path, [
        [codes["cell_a"], "Trần Văn Nam", official, "10/01/1990", "Nam", "Kinh", "Không", "03/02/2015", "03/02/2016"],
        [codes["cell_a"], "Lê Thị Hà", probationary, "1999-05-02", "Nữ", "Tày", "Phật giáo", "2025-05-19", ""],
    ])
    summary = import_file(ledger, path)
    assert (summary.applied, dict(summary.refused)) == (3, {})
    assert member_of(ledger, official).official_since == date(2016, 2, 3)
    assert member_of(ledger, probationary).official_since is None
    assert member_of(ledger, probationary).person.religion == "Phật giáo"


def test_a_roster_row_whose_confirmation_would_be_refused_is_refused_whole(ledger: Ledger, tmp_path: Path) -> None:
    """Admitted in June 2025 and official from July: probation ends in June 2026, after today
    (15 January 2026), so the confirmation cannot be recorded, and neither is the admission. The
    row is refused as a whole and can be imported again once corrected."""
    codes, founding = tree()
    import_file(ledger, write_commands(tmp_path, founding))
    early, fine = national_id(), national_id()
    path = write_csv(tmp_path, [
        [codes["cell_a"], "Trần Văn Nam", early, "10/01/1990", "Nam", "Kinh", "", "01/06/2025", "01/07/2025"],
        [codes["cell_a"], "Lê Thị Hà", fine, "1999-05-02", "Nữ", "Tày", "", "2024-05-19", "2025-05-19"],
    ])
    summary = import_file(ledger, path)
    assert (summary.applied, dict(summary.refused)) == (2, {"date-in-future": 1})
    assert summary.refusals[0].line == 2
    assert ledger.person(early) is None
    assert member_of(ledger, fine).official_since == date(2025, 5, 19)


def test_a_file_that_cannot_be_read_stops_the_import_with_the_line_to_start_again_from(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A CSV saved in a legacy code page stops where its text stops being UTF-8, its batch dropped
    and the earlier batches kept; a workbook that is not one stops at once. No traceback."""
    codes, founding = tree()
    import_file(ledger, write_commands(tmp_path, founding))
    good = [[codes["cell_a"], "Tran Van Nam", national_id(), "10/01/1990", "Nam", "Kinh", "", "03/02/2015", ""]
            for _ in range(400)]
    path = write_csv(tmp_path, good)
    with open(path, "ab") as out:
        out.write("KT,L\u00ea V\u0103n B,012345678901,10/01/1990,Nam,Kinh,,03/02/2015,\r\n".encode("cp1258"))
    before = ledger.recorder.max_notification_id()
    summary = import_file(ledger, path, batch_size=100)
    assert summary.stopped is not None and summary.stopped.code == "unreadable"
    assert "UTF-8" in summary.stopped.detail
    # The text is decoded ahead of the rows: the batches read whole are saved, the one being read
    # is dropped, and the import names its first line (line 1 is the header).
    assert summary.resume_from > 2 and summary.applied == summary.resume_from - 2
    assert ledger.recorder.max_notification_id() > before

    not_a_workbook = tmp_path / "roster.xlsx"
    not_a_workbook.write_bytes(b"")
    stopped = import_file(ledger, not_a_workbook).stopped
    assert stopped is not None and (stopped.code, stopped.line) == ("unreadable", 1)


def test_an_excel_roster_is_read_like_a_csv_roster(ledger: Ledger, tmp_path: Path) -> None:
    """The first sheet of a workbook, with real date cells, admits and confirms its members."""
    codes, founding = tree()
    import_file(ledger, write_commands(tmp_path, founding))
    nid = national_id()
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(ROSTER_HEADER)
    sheet.append([codes["cell_c"], "Phạm Thu Hương", nid, datetime(1988, 7, 1), "Nữ", "Kinh", None,
                  datetime(2016, 9, 2), datetime(2017, 9, 2)])
    path = tmp_path / "roster.xlsx"
    workbook.save(path)
    summary = import_file(ledger, path)
    assert (summary.applied, dict(summary.refused)) == (2, {})
    assert member_of(ledger, nid).official_since == date(2017, 9, 2)


def test_a_roster_may_open_with_a_title_above_its_header(ledger: Ledger, tmp_path: Path) -> None:
    """As commissions print them: the committee and the list's title in merged cells, a blank
    row, then the header. A CSV export keeps the title lines too. Line numbers stay the sheet's."""
    codes, founding = tree()
    import_file(ledger, write_commands(tmp_path, founding))
    nid = national_id()
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["ĐẢNG BỘ XÃ ĐĂK HÀ"])
    sheet.append(["DANH SÁCH ĐẢNG VIÊN CHI BỘ THÔN 1"])
    sheet.merge_cells("A1:I1")
    sheet.append([])
    sheet.append(ROSTER_HEADER)
    sheet.append([codes["cell_c"], "Phạm Thu Hương", nid, datetime(1988, 7, 1), "Nữ", "Kinh", None,
                  datetime(2016, 9, 2), None])
    sheet.append([codes["cell_c"], "Lê Văn Tám", national_id(), datetime(2015, 7, 1), "Nam", "Kinh", None,
                  datetime(2016, 9, 2), None])
    path = tmp_path / "roster.xlsx"
    workbook.save(path)
    summary = import_file(ledger, path)
    assert (summary.applied, dict(summary.refused)) == (1, {"too-young": 1})
    assert summary.refusals[0].line == 6
    assert member_of(ledger, nid).admitted_on == date(2016, 9, 2)

    titled = tmp_path / "titled.csv"
    with open(titled, "w", encoding="utf-8-sig", newline="") as out:
        out.write("DANH SÁCH ĐẢNG VIÊN\r\n\r\n")
        titled_nid = national_id()
        csv.writer(out).writerows([ROSTER_HEADER, [codes["cell_a"], "Trần Văn Nam", titled_nid, "10/01/1990",
                                                   "Nam", "Kinh", "", "03/02/2015", ""]])
    from_csv = import_file(ledger, titled)
    assert (from_csv.applied, from_csv.stopped) == (1, None)
    assert member_of(ledger, titled_nid).admitted_on == date(2015, 2, 3)
    headless = tmp_path / "headless.csv"
    headless.write_text("DANH SÁCH ĐẢNG VIÊN\r\nMã chi bộ,Họ và tên\r\n", encoding="utf-8")
    stopped = import_file(ledger, headless).stopped
    assert stopped is not None and stopped.line == 2 and "lacks" in stopped.detail


def test_a_roster_row_with_an_impossible_date_stops_the_import_at_its_line(ledger: Ledger, tmp_path: Path) -> None:
    """31 February on line 3 is malformed: the import stops there, naming the column."""
    codes, founding = tree()
    import_file(ledger, write_commands(tmp_path, founding))
    path = write_csv(tmp_path, [
        [codes["cell_a"], "Trần Văn Nam", national_id(), "10/01/1990", "Nam", "Kinh", "", "03/02/2015", ""],
        [codes["cell_a"], "Lê Thị Hà", national_id(), "31/02/1999", "Nữ", "Kinh", "", "19/05/2025", ""],
    ])
    summary = import_file(ledger, path)
    assert summary.stopped is not None and summary.stopped.line == 3
    assert "birth_date" in summary.stopped.detail


def test_a_generated_country_imports_without_a_refusal(ledger: Ledger, tmp_path: Path) -> None:
    """Every command of a small synthetic history is accepted by the Charter's rules."""
    path = tmp_path / "country.ndjson.gz"
    with open_text(path, "w") as out:
        made = generate(out, 0.0002, seed=5)
    summary = import_file(ledger, path)
    assert (summary.applied, dict(summary.refused), summary.stopped) == (made.lines, {}, None)


def test_an_import_refreshes_the_store_s_statistics_as_the_log_grows(
    ledger: Ledger, tmp_path: Path, monkeypatch: Any
) -> None:
    """First once `statistics_after` events are in, then each time the log has doubled, and at the
    end unless the import added little since: a few times in all, however long the import."""
    counted: list[int] = []
    monkeypatch.setattr(ledger, "refresh_statistics", lambda: counted.append(ledger.recorder.max_notification_id()))
    codes, founding = tree()
    commands = [*founding, *(admission(codes["cell_a"], national_id()) for _ in range(40))]
    summary = import_file(ledger, write_commands(tmp_path, commands), batch_size=2, statistics_after=4)
    assert summary.batches > 20 and 3 <= len(counted) < 8
    assert counted[0] >= 4 and all(later >= 2 * earlier for earlier, later in pairwise(counted[:-1]))
    assert summary.position - counted[-1] < max(4, counted[-1] // 10)
