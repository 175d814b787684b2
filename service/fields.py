"""Strict types for request bodies and parameters: what the HTTP contract accepts, nothing more.

Pydantic's lax mode would take `1700000000` or `"2024-01-01T00:00"` for a date and `"yes"` for a
boolean; the contract says `YYYY-MM-DD` and JSON booleans, so these types refuse the rest with a
422 that names the field. Text is refused when it holds control characters or unpaired
surrogates, which the stores and the read models cannot keep.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from domain.values import CODE_PATTERN, NATIONAL_ID_PATTERN, Decision

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The ledger adds months and years to dates; keep them far from the calendar's ends.
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def parse_iso_date(value: Any) -> date:
    """A calendar date written `YYYY-MM-DD` between 1900 and 2199, and nothing else."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a calendar date") from None
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return day


def clean_text(value: str) -> str:
    """Text without surrounding blanks, control characters or unpaired surrogates."""
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


IsoDate = Annotated[date, BeforeValidator(parse_iso_date), Field(json_schema_extra={"format": "date"})]
Code = Annotated[str, Field(pattern=CODE_PATTERN.pattern, min_length=1, max_length=64, strict=True)]
Text = Annotated[str, Field(min_length=1, max_length=200, strict=True), AfterValidator(clean_text)]
ShortText = Annotated[str, Field(min_length=1, max_length=100, strict=True), AfterValidator(clean_text)]
NationalId = Annotated[str, Field(pattern=NATIONAL_ID_PATTERN.pattern, strict=True, description="12-digit CCCD or 9-digit ID")]
Flag = StrictBool


class Body(BaseModel):
    """A request body: a JSON object whose unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, frozen=True)


class DecisionBody(Body):
    """`{"number": "123-QĐ/HU", "issued_on": DATE, "issued_by": code?}`."""

    number: ShortText
    issued_on: IsoDate
    issued_by: Code | None = None

    def value(self) -> Decision:
        """The domain's decision."""
        return Decision(self.number, self.issued_on, self.issued_by)
