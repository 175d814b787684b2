"""The roster's JSON written a piece at a time is the JSON of the whole roster."""

from __future__ import annotations

import json

from service.routes.reports import as_json


def test_the_pieces_make_the_same_json_as_the_whole() -> None:
    members = [{"member_id": str(i), "full_name": f"Nguyễn Văn {i}"} for i in range(5)]
    head = {"organization": "KT", "total": 5, "members": [], "guests": [{"full_name": 'Lê Thị "Hà"'}], "limit": None}
    text = b"".join(as_json(dict(head, members=[]), "members", iter([members[:2], [], members[2:]]))).decode()
    assert json.loads(text) == {**head, "members": members}
    assert "Nguyễn" in text  # as FastAPI writes it, not escaped


def test_a_roster_without_members_is_an_empty_list() -> None:
    text = b"".join(as_json({"total": 0, "members": [], "guests": []}, "members", iter([]))).decode()
    assert json.loads(text) == {"total": 0, "members": [], "guests": []}
