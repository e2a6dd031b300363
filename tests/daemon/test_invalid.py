"""The one reading of msgspec's validation messages: the field's path and a plain sentence."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import pytest

from daemon.invalid import field_error


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 5
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=3)] = "a"
    rate: Annotated[float, msgspec.Meta(gt=0, lt=2)] = 1.0
    mode: Literal["add", "absorb"] = "add"


class Doc(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[Inner], msgspec.Meta(max_length=2)]
    flag: bool | None = None


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"items": [{"minutes": 0}]}, "items[0].minutes", "must be at least 1"),
        ({"items": [{"minutes": 1441}]}, "items[0].minutes", "must be at most 1440"),
        ({"items": [{}, {"rate": 0}]}, "items[1].rate", "must be more than 0"),
        ({"items": [{"rate": 2}]}, "items[0].rate", "must be less than 2"),
        ({"items": [{"name": ""}]}, "items[0].name", "must be at least 1 characters"),
        ({"items": [{"name": "abcd"}]}, "items[0].name", "must be at most 3 characters"),
        ({"items": [{}, {}, {}]}, "items", "must have at most 2 items"),
        ({"items": [{"minutes": "5"}]}, "items[0].minutes", "must be a whole number, not text"),
        ({"items": [], "flag": 1}, "flag", "must be true or false or nothing (null), not a whole number"),
        ({"items": [{"mode": "both"}]}, "items[0].mode", "'both' is not one of the allowed values"),
        ({"items": [{"colour": "red"}]}, "items[0].colour", "unknown key"),
        ({}, "items", "required"),
        ([], "", "must be an object, not a list"),
    ],
)
def test_a_validation_error_names_its_field_in_plain_words(raw: Any, field: str, message: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(raw, Doc)
    assert field_error(caught.value) == (field, message)
