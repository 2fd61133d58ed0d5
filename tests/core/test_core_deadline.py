from __future__ import annotations

import calendar
import math
import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlink.core._deadline import (
    _parse_full,
    check,
    downstream,
    format_rfc3339,
    now_rfc3339,
    parse_rfc3339,
    remaining,
)
from agentlink.model import DeadlineExceeded, InvalidParams, UsageError
from agentlink.model._base import RFC3339_PATTERN

MIN_EPOCH = -62_167_219_200.0
MAX_EPOCH = 253_402_300_800.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0.0),
        ("1970-01-01T00:00:00.5Z", 0.5),
        ("2025-03-04T12:34:56.123Z", 1741091696.123),
        ("2025-03-04T12:34:56.123456Z", 1741091696.123456),
        ("2025-03-04T14:34:56.123+02:00", 1741091696.123),
        ("2025-03-04T07:04:56.123-05:30", 1741091696.123),
        ("2025-03-04T12:34:56.123-00:00", 1741091696.123),
        ("2025-03-04t12:34:56.123z", 1741091696.123),
        ("2025-03-04T12:34:56.123z", 1741091696.123),
        ("1970-01-01T00:00:00.123456789Z", 0.123456789),
        ("1970-01-01T00:00:00.1234567Z", 0.1234567),
        ("1969-12-31T23:59:59.5Z", -0.5),
        ("2016-12-31T23:59:60Z", 1483228799.999999),
        ("2016-12-31T23:59:60.5Z", 1483228799.999999),
        ("2016-12-31T18:59:60-05:00", 1483228799.999999),
        ("2024-02-29T00:00:00Z", 1709164800.0),
        ("2000-02-29T00:00:00Z", 951782400.0),
        ("0000-01-01T00:00:00Z", MIN_EPOCH),
        ("0000-03-01T00:00:00Z", MIN_EPOCH + 60 * 86_400),  # year 0 is a leap year
        ("0001-01-01T00:00:00+01:00", -62135600400.0),
        ("9999-12-31T23:59:59Z", MAX_EPOCH - 1),
        ("9999-12-31T23:59:59-23:59", MAX_EPOCH - 1 + 86_340),
    ],
)
def test_parse_gives_exact_epoch_seconds(text: str, expected: float) -> None:
    assert parse_rfc3339(text) == expected


def test_leap_second_sorts_before_the_next_minute() -> None:
    leap = parse_rfc3339("2016-12-31T23:59:60Z")
    assert parse_rfc3339("2016-12-31T23:59:59.9Z") < leap < parse_rfc3339("2017-01-01T00:00:00Z")
    assert format_rfc3339(leap) == "2016-12-31T23:59:59.999999Z"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2025-03-04",
        "2025-03-04T12:34:56",
        "2025-03-04 12:34:56Z",
        "2025-03-04T12:34Z",
        "2025-03-04T24:00:00Z",
        "2025-03-04T12:60:00Z",
        "2025-03-04T12:34:61Z",
        "2025-00-04T12:34:56Z",
        "2025-13-04T12:34:56Z",
        "2025-03-00T12:34:56Z",
        "2025-03-32T12:34:56Z",
        "2025-02-29T12:34:56Z",
        "1900-02-29T12:34:56Z",
        "2025-04-31T12:34:56Z",
        "2025-03-04T12:34:56.Z",
        "2025-03-04T12:34:56.1234567890Z",
        "2025-03-04T12:34:56+02:60",
        "2025-03-04T12:34:56+24:00",
        "2025-03-04T12:34:56+0200",
        "2025-03-04T12:34:56+2:00",
        "2025-03-04T12:34:56ZZ",
        "2025-03-04T12:34:56Z\n",
        " 2025-03-04T12:34:56Z",
        "+025-03-04T12:34:56Z",
        "20250-03-04T12:34:56Z",
        "\uff12\uff10\uff12\uff15-03-04T12:34:56Z"  # full-width digits,
        "2025-03-04T12:34:56.1_2Z",
    ],
)
def test_parse_rejects_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(InvalidParams) as info:
        parse_rfc3339(text)
    assert info.value.data["value"] == text


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidParams):
        parse_rfc3339(1.0)  # type: ignore[arg-type]


def test_invalid_day_names_the_month() -> None:
    with pytest.raises(InvalidParams, match=r"day 30 does not exist in 2024-02"):
        parse_rfc3339("2024-02-30T00:00:00Z")


@pytest.mark.parametrize(
    ("when", "digits", "expected"),
    [
        (0.0, 6, "1970-01-01T00:00:00.000000Z"),
        (0.0, 0, "1970-01-01T00:00:00Z"),
        (1741091696.123, 3, "2025-03-04T12:34:56.123Z"),
        (1741091696.123456, 6, "2025-03-04T12:34:56.123456Z"),
        (1741091696.9996, 3, "2025-03-04T12:34:57.000Z"),
        (1741091696.5, 0, "2025-03-04T12:34:56Z"),
        (-1.5, 6, "1969-12-31T23:59:58.500000Z"),
        (951782400.0, 1, "2000-02-29T00:00:00.0Z"),
        (MIN_EPOCH, 0, "0000-01-01T00:00:00Z"),
        (MAX_EPOCH - 1, 0, "9999-12-31T23:59:59Z"),
    ],
)
def test_format_writes_utc_with_fixed_digits(when: float, digits: int, expected: str) -> None:
    assert format_rfc3339(when, digits=digits) == expected


def test_format_cache_follows_the_second() -> None:
    assert format_rfc3339(1.25) == "1970-01-01T00:00:01.250000Z"
    assert format_rfc3339(86_401.5) == "1970-01-02T00:00:01.500000Z"
    assert format_rfc3339(1.75) == "1970-01-01T00:00:01.750000Z"


@pytest.mark.parametrize(
    "when", [math.nan, math.inf, -math.inf, MIN_EPOCH - 1, MAX_EPOCH, MAX_EPOCH - 1e-7]
)
def test_format_refuses_unrepresentable_instants(when: float) -> None:
    with pytest.raises(UsageError):
        format_rfc3339(when)


@pytest.mark.parametrize("digits", [-1, 7, True])
def test_format_refuses_bad_digit_counts(digits: int) -> None:
    with pytest.raises(UsageError):
        format_rfc3339(0.0, digits=digits)


def test_now_rfc3339_formats_the_given_instant() -> None:
    assert now_rfc3339(1741091696.123456) == "2025-03-04T12:34:56.123456Z"
    assert now_rfc3339(1741091696.123456, digits=3) == "2025-03-04T12:34:56.123Z"


@st.composite
def rfc3339_parts(draw: st.DrawFn) -> tuple[str, int]:
    """A random RFC 3339 string and its exact instant in integer nanoseconds."""
    day = draw(st.dates(min_value=date(1, 1, 2), max_value=date(9999, 12, 30)))
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    digits = draw(st.integers(0, 9))
    fraction = draw(st.integers(0, 10**digits - 1)) if digits else 0
    offset = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    zulu = offset == 0 and draw(st.booleans())
    t_sep = draw(st.sampled_from("Tt"))
    text = f"{day.isoformat()}{t_sep}{hour:02d}:{minute:02d}:{second:02d}"
    if digits:
        text += f".{fraction:0{digits}d}"
    if zulu:
        text += draw(st.sampled_from("Zz"))
    else:
        sign = "-" if offset < 0 else "+"
        text += f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    seconds = (day.toordinal() - 719_163) * 86_400 + hour * 3600 + minute * 60 + second
    seconds -= offset * 60
    nanos = seconds * 10**9 + fraction * 10 ** (9 - digits)
    return text, nanos


@given(rfc3339_parts())
def test_parse_is_the_correctly_rounded_instant(parts: tuple[str, int]) -> None:
    text, nanos = parts
    assert parse_rfc3339(text) == nanos / 10**9
    # The fast path (datetime's C parser) and the full parser agree.
    assert _parse_full(text) == parse_rfc3339(text)


@given(st.from_regex(RFC3339_PATTERN, fullmatch=True))
def test_parse_accepts_the_model_pattern_wherever_the_day_exists(text: str) -> None:
    text = text.rstrip("\n")  # Python's "$" lets one trailing newline through
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    # Year 0000 is a leap year of the proleptic Gregorian calendar, as 2000 is.
    exists = day <= calendar.monthrange(year or 2000, month)[1]
    if exists:
        assert math.isfinite(parse_rfc3339(text))
    else:
        with pytest.raises(InvalidParams):
            parse_rfc3339(text)


@given(st.text(alphabet="0123456789-:.TtZz+ \n", max_size=40))
def test_whatever_parses_matches_the_model_pattern(text: str) -> None:
    try:
        parse_rfc3339(text)
    except InvalidParams:
        return
    assert re.fullmatch(RFC3339_PATTERN, text) is not None


@given(st.floats(min_value=MIN_EPOCH, max_value=MAX_EPOCH - 1))
def test_format_then_parse_round_trips(when: float) -> None:
    text = format_rfc3339(when)
    back = parse_rfc3339(text)
    assert abs(back - when) <= 5e-7 + abs(when) * 2**-52
    assert format_rfc3339(back) == text


def test_remaining_counts_down_and_goes_negative() -> None:
    assert remaining(None, 100.0) is None
    assert remaining(110.0, 100.0) == 10.0
    assert remaining(90.0, 100.0) == -10.0
    assert remaining(110, 100.0) == 10.0
    assert remaining("1970-01-01T00:01:50Z", 100.0) == 10.0


def test_check_returns_time_left_before_the_deadline() -> None:
    assert check(None, 100.0) is None
    assert check(100.5, 100.0) == 0.5
    assert check("1970-01-01T00:01:41Z", 100.0) == 1.0


@pytest.mark.parametrize("now", [100.0, 100.25])
def test_check_refuses_at_and_after_the_deadline(now: float) -> None:
    with pytest.raises(DeadlineExceeded) as info:
        check(100.0, now)
    assert info.value.code == -32020
    assert info.value.data == {"deadline": "1970-01-01T00:01:40.000000Z", "late_by": now - 100.0}


def test_check_rejects_a_malformed_deadline_string() -> None:
    with pytest.raises(InvalidParams):
        check("tomorrow", 0.0)


@pytest.mark.parametrize("bad", [True, [1.0], b"1"])
def test_deadline_of_the_wrong_type_is_a_usage_error(bad: object) -> None:
    with pytest.raises(UsageError):
        remaining(bad, 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("deadline", "budget", "reserve", "expected"),
    [
        (None, None, 0.0, None),
        (None, 5.0, 0.0, 105.0),
        (None, 5.0, 1.0, 105.0),
        (110.0, None, 0.0, 110.0),
        (110.0, None, 2.0, 108.0),
        (110.0, 5.0, 0.0, 105.0),
        (110.0, 30.0, 0.0, 110.0),
        (110.0, 30.0, 2.0, 108.0),
        (110.0, 9.0, 2.0, 108.0),
        (90.0, 5.0, 0.0, 90.0),
        (110.0, 0.0, 0.0, 100.0),
        ("1970-01-01T00:01:50Z", 30.0, 0.0, 110.0),
    ],
)
def test_downstream_takes_the_earliest_limit(
    deadline: float | str | None, budget: float | None, reserve: float, expected: float | None
) -> None:
    assert downstream(deadline, 100.0, budget, reserve=reserve) == expected


@pytest.mark.parametrize(
    ("budget", "reserve"), [(-1.0, 0.0), (math.nan, 0.0), (math.inf, 0.0), (1.0, -0.5)]
)
def test_downstream_refuses_negative_or_non_finite_amounts(budget: float, reserve: float) -> None:
    with pytest.raises(UsageError):
        downstream(110.0, 100.0, budget, reserve=reserve)


@given(
    deadline=st.none() | st.floats(min_value=-1e9, max_value=1e10),
    now=st.floats(min_value=-1e9, max_value=1e10),
    budget=st.none() | st.floats(min_value=0.0, max_value=1e9),
    reserve=st.floats(min_value=0.0, max_value=1e3),
)
def test_downstream_never_extends(
    deadline: float | None, now: float, budget: float | None, reserve: float
) -> None:
    result = downstream(deadline, now, budget, reserve=reserve)
    if deadline is not None:
        assert result is not None
        assert result <= deadline
    if budget is not None:
        assert result is not None
        assert result <= now + budget
    if deadline is None and budget is None:
        assert result is None
