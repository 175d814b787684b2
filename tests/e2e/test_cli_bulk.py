"""The command line's bulk commands: `dangvien generate` and `dangvien import` (on SQLite)."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import main


def test_generate_writes_the_country_it_describes(tmp_path: Path) -> None:
    """`dangvien generate FILE --scale S --seed N` writes the commands and says how many."""
    out = tmp_path / "country.ndjson"
    result = CliRunner().invoke(main, ["generate", str(out), "--scale", "0.0002", "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert f"Wrote {len(lines) - 1:,} commands" in result.output


def test_import_applies_a_generated_country_and_reports_its_speed(tmp_path: Path) -> None:
    """`dangvien import FILE` applies every command and reports events per second."""
    out = tmp_path / "country.ndjson.gz"
    CliRunner().invoke(main, ["generate", str(out), "--scale", "0.0002"])
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    result = CliRunner().invoke(main, ["import", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "events/s" in result.output and "Refused" not in result.output


def test_import_writes_refused_rows_with_their_line_numbers(tmp_path: Path) -> None:
    """`--refusals FILE` receives one JSON object per refused row, naming its line and code."""
    commands = tmp_path / "commands.ndjson"
    commands.write_text(json.dumps({"command": "set_plan", "organization": "NOWHERE", "period": "2024",
                                    "admissions": 3}) + "\n", encoding="utf-8")
    report = tmp_path / "refused.ndjson"
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    result = CliRunner().invoke(main, ["import", str(commands), "--refusals", str(report)], env=env)
    assert result.exit_code == 0, result.output
    refusal = json.loads(report.read_text(encoding="utf-8"))
    assert (refusal["line"], refusal["code"]) == (1, "organization-not-found")


def test_import_stops_at_a_malformed_line_and_says_where_to_resume(tmp_path: Path) -> None:
    """A line that is not a command stops the import with exit status 1 and the line to start again from."""
    commands = tmp_path / "commands.ndjson"
    commands.write_text("{broken\n", encoding="utf-8")
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    result = CliRunner().invoke(main, ["import", str(commands)], env=env)
    assert result.exit_code == 1
    assert "--start-line 1" in result.output


def test_generate_without_a_file_names_one_after_scale_and_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dangvien generate --scale S` alone writes `country-S-seedN.ndjson.gz` in the current folder."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["generate", "--scale", "0.0002"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "country-0.0002-seed1.ndjson.gz"
    with gzip.open(written, "rt", encoding="utf-8") as f:
        assert sum(1 for _ in f) > 100
    assert str(written.name) in result.output


def test_the_same_scale_and_seed_give_the_same_compressed_file_byte_for_byte(tmp_path: Path) -> None:
    """The gzip header holds no time: two runs a second apart write identical files."""
    first, second = tmp_path / "a" / "country.ndjson.gz", tmp_path / "b" / "country.ndjson.gz"
    for out in (first, second):
        out.parent.mkdir()
        assert CliRunner().invoke(main, ["generate", str(out), "--scale", "0.0002"]).exit_code == 0
        time.sleep(1.1)
    assert first.read_bytes() == second.read_bytes()


def test_output_into_a_missing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    """`generate`, `import --refusals` and `verify --out` name the missing folder, exit status 2."""
    missing = tmp_path / "no-such-folder" / "out.json"
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    commands = tmp_path / "commands.ndjson"
    commands.write_text("\n", encoding="utf-8")
    for args in (["generate", str(missing), "--scale", "0.0002"],
                 ["import", str(commands), "--refusals", str(missing)],
                 ["verify", "KT", "--out", str(missing)]):
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 2 and "no folder" in result.output, (args, result.output)


def test_import_says_how_many_refusals_it_did_not_list(tmp_path: Path) -> None:
    """Twenty refusals are listed; the summary counts the rest and points to --refusals."""
    commands = tmp_path / "commands.ndjson"
    commands.write_text("".join(
        json.dumps({"command": "set_plan", "organization": f"NOWHERE{i}", "period": "2024", "admissions": 3}) + "\n"
        for i in range(25)
    ), encoding="utf-8")
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    result = CliRunner().invoke(main, ["import", str(commands)], env=env)
    assert result.exit_code == 0, result.output
    assert "Refused 25" in result.output and "... and 5 more; --refusals FILE writes every one" in result.output
