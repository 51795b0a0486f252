"""The control desk's answers are JSON: ``_plain`` turns what CoreApi returns
into what ``json.dumps`` takes, and never makes it raise."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path

from server.control import _plain


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Inner:
    name: str
    state: Colour


@dataclasses.dataclass(frozen=True)
class Outer:
    rows: tuple[Inner, ...]
    where: Path
    counts: dict[int, float]
    missing: None = None


def test_plain_answers_are_json() -> None:
    value = Outer((Inner("a", Colour.RED),), Path("/x/y"), {1: 2.5})
    plain = _plain(value)
    assert plain == {
        "rows": [{"name": "a", "state": "red"}],
        "where": "/x/y",  # a type JSON has not: its text
        "counts": {"1": 2.5},
        "missing": None,
    }
    assert json.loads(json.dumps(plain)) == plain


def test_plain_keeps_json_scalars() -> None:
    for v in (True, 0, -3, 1.5, "", "text", None):
        assert _plain(v) == v and type(_plain(v)) is type(v)
    assert _plain([("a", 1)]) == [["a", 1]]
