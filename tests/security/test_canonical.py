"""RFC 8785 canonical JSON, against the RFC's own examples and test vectors."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlink.model import UsageError
from agentlink.security._canonical import canonical_json, format_number


def test_the_rfc_example_of_section_3_2_2() -> None:
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        r' "string": "\u20ac$\u000F\u000aA' + "'" + r'\u0042\u0022\u005c\\\"\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(text)) == expected.encode("utf-8")


def test_member_names_sort_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: U+1F600 (a surrogate pair D83D DE00) sorts before U+FB33.
    value = json.loads(
        r'{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet",'
        r' "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",'
        r' "\u00f6": "Latin Small Letter O With Diaeresis"}'
    )
    ordered = list(json.loads(canonical_json(value)).values())
    assert ordered == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet",
    ]


def test_structures_and_locale_free_sorting() -> None:
    # From the test data of the RFC's reference implementation.
    structures = json.loads(
        '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0}, "10": { }, "": "empty", "a": { },'
        ' "111": [ { } ], "A": { }}'
    )
    assert canonical_json(structures) == (
        b'{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}'
    )
    french = {"peach": 1, "p\u00e9ch\u00e9": 2, "p\u00eache": 3, "sin": 4}
    assert canonical_json(french) == '{"peach":1,"péché":2,"pêche":3,"sin":4}'.encode()
    weird = json.loads(
        r'{"\u20ac": "Euro Sign", "1": "One", "\u0080": "Control\u007f",'
        r' "\ud83d\ude02": "Smiley", "\u00f6": "O", "\ufb33": "Dalet", "</script>": "B"}'
    )
    assert canonical_json(weird) == (
        '{"1":"One","</script>":"B","\u0080":"Control\u007f","\u00f6":"O",'
        '"\u20ac":"Euro Sign","\U0001f602":"Smiley","\ufb33":"Dalet"}'
    ).encode("utf-8")


# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_numbers_of_appendix_b(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e30, "1e+30"),
        (4.5, "4.5"),
        (0.002, "0.002"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123.0, "123"),
        (-0.0, "0"),
        (0, "0"),
        (-17, "-17"),
        (2**53, "9007199254740992"),
        (2**60, "1152921504606847000"),  # shortest digits, then zeros
        (2**53 + 1, "9007199254740992"),  # read as the nearest double, as parsers do
    ],
)
def test_numbers_as_ecmascript_writes_them(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, 10**400, {1: "x"}, {"a": b"bytes"}, "\ud800"]
)
def test_what_json_cannot_hold_is_refused(value: Any) -> None:
    with pytest.raises(UsageError):
        canonical_json(value)


def test_control_characters_use_the_short_escapes_and_lower_case_hex() -> None:
    assert canonical_json("\b\t\n\f\r\x00\x1f\x7f/") == b'"\\b\\t\\n\\f\\r\\u0000\\u001f\x7f/"'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(json_values)
def test_canonical_text_parses_back_to_the_same_value_and_is_a_fixed_point(value: Any) -> None:
    text = canonical_json(value)
    # Numbers are doubles: 5.490011195504241e16 is written 54900111955042410.
    parsed = json.loads(text, parse_int=float)
    assert parsed == value
    assert canonical_json(parsed) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_round_trips_through_its_text(value: float) -> None:
    assert float(format_number(value)) == value
