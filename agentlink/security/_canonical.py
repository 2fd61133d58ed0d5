"""RFC 8785 JSON Canonicalization Scheme (JCS): one byte string per JSON value.

Rules (RFC 8785 section 3.2):

- No whitespace. Literals ``null``, ``true``, ``false``.
- Strings: UTF-8; only ``"``, ``\\`` and the control characters U+0000..U+001F are escaped,
  as ``\\b \\t \\n \\f \\r`` where JSON has a short form and ``\\u00xx`` (lower-case hex)
  otherwise; every other character is written as itself. Lone surrogates are refused.
- Numbers are IEEE 754 doubles written as ECMAScript's ``Number.prototype.toString``
  writes them (shortest digits that round-trip; plain notation for 1e-6 <= |x| < 1e21,
  exponent form ``1e+30`` / ``1.5e-7`` outside); ``-0`` is ``0``; NaN and infinities are
  refused. An integer beyond 2**53 is taken as the double nearest to it, as every JSON
  parser that reads numbers as doubles does.
- Object members are sorted by their names as arrays of UTF-16 code units.

It is used to sign agent cards, so it runs on the signing and verifying path only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from agentlink.model import UsageError

__all__ = ["canonical_json", "format_number"]

_MAX_EXACT_INT: Final = 2**53
_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_NEEDS_ESCAPE: Final = re.compile(r'["\\\x00-\x1f]')
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dicts, lists, str, int, float,
    bool, None).

    Raises:
        UsageError: the value holds something JSON cannot represent (NaN, an infinity, a
            lone surrogate, a non-string member name, another type).
    """
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8")


def _write(value: Any, out: list[str]) -> None:
    # Recursion depth is bounded by what was parsed (cards are shallow; Python's limit
    # guards the rest).
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int | float):
        out.append(format_number(value))
    elif isinstance(value, Mapping):
        names = list(value)
        for name in names:
            if not isinstance(name, str):
                raise UsageError(f"JSON member names are strings, got {name!r}")
        out.append("{")
        for i, name in enumerate(sorted(names, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(_string(name))
            out.append(":")
            _write(value[name], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise UsageError(f"not a JSON value: {type(value).__name__}")


def _utf16_key(name: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the sequences of 16-bit code units do.
    return name.encode("utf-16-be", "surrogatepass")


def _string(text: str) -> str:
    if _SURROGATE.search(text) is not None:
        raise UsageError("a JSON string holds a lone surrogate (not valid Unicode)")
    if _NEEDS_ESCAPE.search(text) is None:
        return f'"{text}"'
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def format_number(value: int | float) -> str:
    """A number as ECMAScript writes it (RFC 8785 section 3.2.2.3).

    Raises:
        UsageError: NaN, an infinity, or an integer too large for a double.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
            return str(value)
        try:
            value = float(value)
        except OverflowError:
            raise UsageError("an integer too large for a JSON number (a double)") from None
    if not math.isfinite(value):
        raise UsageError(f"JSON has no number {value!r}")
    if value == 0:
        return "0"  # -0 as well
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript's algorithm requires.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # n: the position of the decimal point relative to the first significant digit.
    point = len(whole) + (int(exp_text) if exp_text else 0)
    if whole == "0":
        leading = len(fraction) - len(fraction.lstrip("0"))
        point = -leading + (int(exp_text) if exp_text else 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exponent = point - 1
    exp_sign = "+" if exponent >= 0 else "-"
    head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{head}e{exp_sign}{abs(exponent)}"
