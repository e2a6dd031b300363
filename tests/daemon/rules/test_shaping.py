from __future__ import annotations

import math

import msgspec
import pytest

from daemon.rules import RuleNote, Shaped, format_duration, shape
from daemon.settings import RoundingConfig

NONE = RoundingConfig()
UP15 = RoundingConfig(increment_s=900, direction="up")
UP6 = RoundingConfig(increment_s=360, direction="up")
NEAR15 = RoundingConfig(increment_s=900, direction="nearest")
NEAR7 = RoundingConfig(increment_s=7, direction="nearest")
DOWN15 = RoundingConfig(increment_s=900, direction="down")


def billed(actual: float, rounding: RoundingConfig, min_seconds: int = 60) -> int:
    return shape(
        actual, rounding=rounding, min_seconds=min_seconds, billable="", billable_default="agreement"
    ).billed_seconds


@pytest.mark.parametrize(
    ("actual", "rounding", "min_seconds", "expected_actual", "expected_billed", "void"),
    [
        # no rounding
        (423, NONE, 60, 423, 423, None),
        (423.4, NONE, 60, 423, 423, None),
        (423.5, NONE, 60, 424, 424, None),  # actual rounds half up
        # minimum length
        (59, UP15, 60, 59, 0, "too_short"),
        (59.4, UP15, 60, 59, 0, "too_short"),
        (59.5, UP15, 60, 60, 900, None),  # whole seconds decide
        (60, UP15, 60, 60, 900, None),  # exactly the minimum is kept
        (0, UP15, 60, 0, 0, "too_short"),
        (5, NONE, 0, 5, 5, None),  # no minimum
        (0, UP15, 0, 0, 0, None),  # nothing to round
        # up
        (423, UP15, 60, 423, 900, None),
        (900, UP15, 60, 900, 900, None),  # exact multiple stays
        (901, UP15, 60, 901, 1800, None),
        (1800, UP6, 60, 1800, 1800, None),
        (1801, UP6, 60, 1801, 2160, None),
        # nearest: ties go up
        (1349, NEAR15, 60, 1349, 900, None),
        (1350, NEAR15, 60, 1350, 1800, None),
        (1351, NEAR15, 60, 1351, 1800, None),
        (2700, NEAR15, 60, 2700, 2700, None),
        (423, NEAR15, 60, 423, 900, None),  # would be 0: kept at one increment
        (449, NEAR15, 0, 449, 900, None),
        (10, NEAR7, 0, 10, 7, None),  # odd increment, no ties: 10 = 7 + 3, nearer 7
        (11, NEAR7, 0, 11, 14, None),  # 11 = 7 + 4, nearer 14
        # down
        (1799, DOWN15, 60, 1799, 900, None),
        (1800, DOWN15, 60, 1800, 1800, None),
        (2699, DOWN15, 60, 2699, 1800, None),
        (120, DOWN15, 60, 120, 900, None),  # never below one increment
    ],
)
def test_figures(
    actual: float,
    rounding: RoundingConfig,
    min_seconds: int,
    expected_actual: int,
    expected_billed: int,
    void: str | None,
) -> None:
    shaped = shape(actual, rounding=rounding, min_seconds=min_seconds, billable="", billable_default="agreement")
    assert (shaped.actual_seconds, shaped.billed_seconds, shaped.void_reason) == (
        expected_actual,
        expected_billed,
        void,
    )


@pytest.mark.parametrize(
    ("actual", "rounding", "expected"),
    [
        (300, RoundingConfig(minimum_billed_s=900), 900),  # no rounding, raised to the minimum billed
        (300, RoundingConfig(increment_s=360, minimum_billed_s=900), 900),  # 6m, then 15m
        (1000, RoundingConfig(increment_s=360, minimum_billed_s=900), 1080),  # 18m ≥ 15m
        (900, RoundingConfig(minimum_billed_s=900), 900),  # exactly the minimum billed
        (0, RoundingConfig(minimum_billed_s=900), 0),  # nothing worked, nothing billed
        (120, RoundingConfig(increment_s=60, direction="down", minimum_billed_s=300), 300),
    ],
)
def test_minimum_billed_applies_after_rounding(actual: int, rounding: RoundingConfig, expected: int) -> None:
    assert billed(actual, rounding, min_seconds=0) == expected


def test_voided_entries_skip_rounding_and_bill_nothing() -> None:
    shaped = shape(
        45,
        rounding=RoundingConfig(increment_s=900, minimum_billed_s=900),
        min_seconds=60,
        billable="yes",
        billable_default="agreement",
    )
    assert shaped == Shaped(
        actual_seconds=45,
        billed_seconds=0,
        billable="yes",
        void_reason="too_short",
        explanation=[
            RuleNote("minimum", "45s < minimum 1m: voided as too short"),
            RuleNote("billable", "yes (set on the entry)", "entry"),
        ],
    )


@pytest.mark.parametrize(
    ("actual", "rounding", "min_seconds", "notes"),
    [
        (
            423,
            UP15,
            60,
            [
                ("minimum", "7m 03s ≥ minimum 1m"),
                ("rounding", "up to 15m: 7m 03s → 15m"),
                ("billable", "agreement (default)"),
            ],
        ),
        (
            70,
            NONE,
            60,
            [
                ("minimum", "1m 10s ≥ minimum 1m"),
                ("rounding", "none: billed as measured, 1m 10s"),
                ("billable", "agreement (default)"),
            ],
        ),
        (
            900,
            UP15,
            0,
            [
                ("rounding", "up to 15m: 15m is already a multiple"),
                ("billable", "agreement (default)"),
            ],
        ),
        (
            120,
            DOWN15,
            0,
            [
                ("rounding", "down to 15m: 2m → 15m (never below one increment)"),
                ("billable", "agreement (default)"),
            ],
        ),
        (
            3725,
            RoundingConfig(increment_s=360, direction="nearest", minimum_billed_s=300),
            60,
            [
                ("minimum", "1h 02m 05s ≥ minimum 1m"),
                ("rounding", "nearest to 6m: 1h 02m 05s → 1h"),
                ("minimum_billed", "1h ≥ minimum 5m"),
                ("billable", "agreement (default)"),
            ],
        ),
        (
            200,
            RoundingConfig(increment_s=60, minimum_billed_s=900),
            60,
            [
                ("minimum", "3m 20s ≥ minimum 1m"),
                ("rounding", "up to 1m: 3m 20s → 4m"),
                ("minimum_billed", "4m raised to minimum 15m"),
                ("billable", "agreement (default)"),
            ],
        ),
    ],
)
def test_explanation(actual: int, rounding: RoundingConfig, min_seconds: int, notes: list[tuple[str, str]]) -> None:
    shaped = shape(actual, rounding=rounding, min_seconds=min_seconds, billable="", billable_default="agreement")
    assert [(n.rule, n.detail) for n in shaped.explanation] == notes


@pytest.mark.parametrize(
    ("billable", "default", "expected", "detail"),
    [
        ("", "agreement", "agreement", "agreement (default)"),
        ("default", "no", "no", "no (default)"),
        ("", "yes", "yes", "yes (default)"),
        ("yes", "agreement", "yes", "yes (set on the entry)"),
        ("no", "yes", "no", "no (set on the entry)"),
        ("agreement", "agreement", "agreement", "agreement (set on the entry)"),
    ],
)
def test_billable(billable: str, default: str, expected: str, detail: str) -> None:
    shaped = shape(600, rounding=NONE, min_seconds=60, billable=billable, billable_default=default)
    assert shaped.billable == expected
    assert shaped.explanation[-1] == RuleNote("billable", detail, "entry" if "set on the entry" in detail else "")


@pytest.mark.parametrize(
    ("actual", "billable", "default"),
    [
        (-1, "", "agreement"),
        (math.nan, "", "agreement"),
        (math.inf, "", "agreement"),
        (60, "maybe", "agreement"),
        (60, "", "maybe"),
        (60, "yes", ""),
    ],
)
def test_bad_input_is_refused(actual: float, billable: str, default: str) -> None:
    with pytest.raises(ValueError):
        shape(actual, rounding=NONE, min_seconds=60, billable=billable, billable_default=default)


def test_shaped_round_trips_as_json() -> None:
    shaped = shape(423, rounding=UP15, min_seconds=60, billable="no", billable_default="agreement")
    assert msgspec.json.decode(msgspec.json.encode(shaped), type=Shaped) == shaped


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (59.4, "59s"),
        (59.5, "1m"),
        (60, "1m"),
        (70, "1m 10s"),
        (423, "7m 03s"),
        (900, "15m"),
        (3599, "59m 59s"),
        (3600, "1h"),
        (3720, "1h 02m"),
        (3725, "1h 02m 05s"),
        (3605, "1h 00m 05s"),
        (36_000, "10h"),
        (90_000, "25h"),
        (-90, "-1m 30s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
