"""Log redaction: personal data never reaches a rendered log line, however deep it sits."""

from __future__ import annotations

import io
import json
import logging

import structlog

from service.logs import REDACTED, configure_logging, redact_personal_data


def test_personal_keys_are_redacted_at_any_depth() -> None:
    """Nested dicts and lists are searched, other keys are kept."""
    event = {
        "event": "admitted",
        "member": {"person": {"national_id": "012345678901", "full_name": "Lê Thị A", "sex": "female"}},
        "people": [{"birth_date": "1990-01-01", "religion": "Công giáo", "ethnicity": "Tày"}],
    }
    redacted = redact_personal_data(None, "info", event)
    assert redacted["member"]["person"] == {"national_id": REDACTED, "full_name": REDACTED, "sex": "female"}
    assert redacted["people"] == [{"birth_date": REDACTED, "religion": REDACTED, "ethnicity": REDACTED}]
    assert redacted["event"] == "admitted"


def test_structlog_and_standard_library_lines_are_json_without_personal_data() -> None:
    """Both kinds of logger end in the same redacting JSON formatter."""
    stream = io.StringIO()
    configure_logging("info", stream)
    structlog.get_logger("test").info("admitted", person={"national_id": "012345678901"})
    logging.getLogger("test.stdlib").info("plain %s", "message", extra={"full_name": "Lê Thị A"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["person"] == {"national_id": REDACTED}
    assert lines[1]["event"] == "plain message"
    assert "012345678901" not in stream.getvalue() and "Lê Thị A" not in stream.getvalue()
