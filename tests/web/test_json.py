"""The three JSON backends of pyre.web give the same bytes and the same errors."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid

import pytest
from hypothesis import given, strategies as st

from pyre.web import _json

BACKENDS = {"json": _json._stdlib()}
for _name, _factory in (("msgspec", _json._msgspec), ("orjson", _json._orjson)):
    try:
        BACKENDS[_name] = _factory()
    except ImportError:  # pragma: no cover - the test extras install both
        pass


@dataclasses.dataclass
class Point:
    x: int
    label: str


class Colour(enum.Enum):
    RED = "red"


class Custom:
    def __json__(self):
        return {"custom": True}


def test_every_backend_is_available_in_the_test_environment():
    assert set(BACKENDS) == {"json", "msgspec", "orjson"}
    assert _json.BACKEND == "msgspec"


def test_extended_types_encode_the_same_everywhere():
    value = {
        "point": Point(1, "é"),
        "utc": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "offset": datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        "naive": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "date": datetime.date(2024, 1, 2),
        "time": datetime.time(1, 2, 3),
        "uuid": uuid.UUID(int=1),
        "decimal": decimal.Decimal("1.10"),
        "enum": Colour.RED,
        "tuple": (1, 2),
        "big": 10**20,
        "custom": Custom(),
    }
    expected = (
        b'{"point":{"x":1,"label":"\xc3\xa9"},"utc":"2024-01-02T03:04:05Z",'
        b'"offset":"2024-01-02T03:04:05.000006+02:00","naive":"2024-01-02T03:04:05","date":"2024-01-02",'
        b'"time":"01:02:03","uuid":"00000000-0000-0000-0000-000000000001","decimal":"1.10","enum":"red",'
        b'"tuple":[1,2],"big":100000000000000000000,"custom":{"custom":true}}'
    )
    for name, (dumps, _) in BACKENDS.items():
        assert dumps(value) == expected, name


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_plain_values_round_trip_identically(value):
    encoded = {name: dumps(value) for name, (dumps, _) in BACKENDS.items()}
    assert len(set(encoded.values())) == 1, encoded
    for name, (_, loads) in BACKENDS.items():
        assert loads(encoded["json"]) == value, name


@pytest.mark.parametrize("name", ["json", "msgspec", "orjson"])
def test_errors_are_the_documented_types(name):
    dumps, loads = BACKENDS[name]
    with pytest.raises(TypeError):
        dumps({"x": object()})
    with pytest.raises(_json.JSONDecodeError):
        loads(b"{bad")
    with pytest.raises(_json.JSONDecodeError):
        loads(b"\xff")
