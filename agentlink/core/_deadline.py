"""Deadline arithmetic: RFC 3339 timestamps to and from float epoch seconds.

A deadline on the wire is an absolute RFC 3339 instant (``_meta.deadline``); inside the
library it is a float of seconds since the Unix epoch, or ``None`` for "no deadline".
Nothing here reads a clock: the current time is always an argument.

Rules:

- :func:`parse_rfc3339` accepts exactly the strings ``RFC3339_PATTERN`` of the models
  accepts (``T``/``t``, ``Z``/``z`` or a ``+hh:mm``/``-hh:mm`` offset, 1 to 9 fractional
  digits) and also checks the calendar (no 30 February). ``-00:00`` ("offset unknown")
  is read as UTC.
- A leap second (``:60``) has no POSIX instant. It is read as the last microsecond of the
  preceding second (``:59.999999``, whatever fraction follows the 60), so it sorts before the
  next minute and survives formatting at microsecond precision.
- :func:`format_rfc3339` always writes UTC with ``Z`` and a fixed number of fractional
  digits (microseconds by default, the precision a float epoch keeps for current dates).
- :func:`downstream` never extends a deadline: work handed on gets at most what is left.

Invalid timestamps raise :class:`~agentlink.model.InvalidParams` because they come from a
peer (``_meta.deadline``, ``reply_by``); misuse of the functions raises
:class:`~agentlink.model.UsageError`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from agentlink.model import DeadlineExceeded, InvalidParams, UsageError

__all__ = [
    "Deadline",
    "check",
    "downstream",
    "format_rfc3339",
    "now_rfc3339",
    "parse_rfc3339",
    "remaining",
]

#: A deadline as the functions accept it: epoch seconds, an RFC 3339 string, or none.
Deadline = float | str | None

# The common shape (what format_rfc3339 and most peers write) goes through the C parser
# in datetime, about four times faster than the arithmetic below. The regex pins what the
# C parser would otherwise be lenient about (offset minutes >= 60, separators, digits);
# it still checks month, day and hour ranges itself.
_FAST = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
# The full grammar of RFC3339_PATTERN, with groups, for everything else: lower-case
# separators, 7-9 fractional digits, leap seconds, year 0000.
_FULL = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)
_FROMISO = datetime.fromisoformat

# Days before each month in a common year (index 1 = January).
_DAYS_BEFORE_MONTH = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Days from 0000-12-31 (proleptic Gregorian day 0 of year 1) to 1970-01-01.
_EPOCH_DAYS = 719_162
_NS = 1_000_000_000

# RFC 3339 years are 0000-9999.
_MIN_EPOCH = -62_167_219_200.0  # 0000-01-01T00:00:00Z
_MAX_EPOCH = 253_402_300_800.0  # 10000-01-01T00:00:00Z, exclusive


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the given proleptic Gregorian date (year may be 0)."""
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month] + day
    if month > 2 and _is_leap(year):
        days += 1
    return days - 1 - _EPOCH_DAYS


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count from 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _invalid(text: object, reason: str) -> InvalidParams:
    return InvalidParams(
        f"invalid RFC 3339 timestamp {text!r}: {reason}",
        data={"value": text if isinstance(text, str) else repr(text), "reason": reason},
    )


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp into float seconds since the Unix epoch.

    Args:
        text: a timestamp such as ``2025-03-04T12:34:56.123Z`` or
            ``2025-03-04T14:34:56+02:00``.

    Returns:
        The instant as epoch seconds, correctly rounded to the nearest float.

    Raises:
        InvalidParams: ``text`` is not an RFC 3339 timestamp or names no calendar day.
    """
    if not isinstance(text, str):
        raise _invalid(text, "not a string")
    if _FAST.fullmatch(text) is not None:
        try:
            return _FROMISO(text).timestamp()
        except (ValueError, OverflowError):
            pass  # let the full parser give the precise reason
    return _parse_full(text)


def _parse_full(text: str) -> float:
    match = _FULL.fullmatch(text)
    if match is None:
        raise _invalid(text, "does not match the RFC 3339 date-time grammar")
    year_s, month_s, day_s, hour_s, minute_s, second_s, frac_s, sign, off_h, off_m = match.groups()
    year, month, day = int(year_s), int(month_s), int(day_s)
    limit = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month]
    if day > limit:
        raise _invalid(text, f"day {day} does not exist in {year:04d}-{month:02d}")
    second = int(second_s)
    if second == 60:
        second, frac_ns = 59, 999_999_000
    elif frac_s is None:
        frac_ns = 0
    else:
        frac_ns = int(frac_s) * 10 ** (9 - len(frac_s))
    seconds = (
        _days_from_civil(year, month, day) * 86_400
        + int(hour_s) * 3600
        + int(minute_s) * 60
        + second
    )
    if sign is not None:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds += -offset if sign == "+" else offset
    # One exact integer division: correctly rounded, unlike seconds + frac / 1e9.
    return (seconds * _NS + frac_ns) / _NS


# One-entry cache of the "YYYY-MM-DDTHH:MM:SS" prefix: timestamps written in a burst share
# their second, and the fraction alone is cheap to format. A tuple swaps atomically.
_last_prefix: tuple[int, str] = (0, "1970-01-01T00:00:00")
# digits -> (scale, %-format of prefix and fraction); %-formatting is the fastest here.
_FRACTIONS: dict[int, tuple[int, str]] = {
    0: (1, "%sZ"),
    **{d: (10**d, f"%s.%0{d}dZ") for d in range(1, 7)},
}


def format_rfc3339(when: float, *, digits: int = 6) -> str:
    """Format epoch seconds as an RFC 3339 UTC timestamp.

    Args:
        when: seconds since the Unix epoch.
        digits: fractional digits to write, 0 to 6; the value is rounded to them.

    Returns:
        A string such as ``2025-03-04T12:34:56.123456Z``.

    Raises:
        UsageError: ``when`` is not finite or falls outside the years 0000-9999, or
            ``digits`` is out of range.
    """
    global _last_prefix
    spec = _FRACTIONS.get(digits) if type(digits) is int else None
    if spec is None:
        raise UsageError(f"digits must be 0..6, got {digits!r}")
    # Written so that NaN fails the test too.
    if not _MIN_EPOCH <= when < _MAX_EPOCH:
        raise UsageError(f"cannot format {when!r} as an RFC 3339 timestamp (years 0000-9999)")
    scale, template = spec
    seconds, fraction = divmod(round(when * scale), scale)
    if seconds >= _MAX_EPOCH:
        raise UsageError(f"{when!r} rounds past 9999-12-31T23:59:59")
    cached_seconds, prefix = _last_prefix
    if cached_seconds != seconds:
        days, rest = divmod(seconds, 86_400)
        year, month, day = _civil_from_days(days)
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        prefix = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        _last_prefix = (seconds, prefix)
    if digits == 0:
        return template % prefix
    return template % (prefix, fraction)


def now_rfc3339(now: float, *, digits: int = 6) -> str:
    """The timestamp to put in ``sent_at``, task and event times for the instant ``now``.

    Args:
        now: the current time as epoch seconds (read by the caller, not here).
        digits: fractional digits, as for :func:`format_rfc3339`.
    """
    return format_rfc3339(now, digits=digits)


def _as_epoch(deadline: Deadline) -> float | None:
    value: object = deadline  # callers outside mypy may pass anything
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise UsageError(f"a deadline is epoch seconds, an RFC 3339 string or None: {value!r}")


def remaining(deadline: Deadline, now: float) -> float | None:
    """Seconds left until ``deadline`` (negative once it has passed), or ``None``.

    Args:
        deadline: epoch seconds, an RFC 3339 string, or ``None`` for no deadline.
        now: the current time as epoch seconds.
    """
    epoch = _as_epoch(deadline)
    return None if epoch is None else epoch - now


def check(deadline: Deadline, now: float) -> float | None:
    """Refuse work whose deadline has passed; otherwise return the seconds left.

    The deadline instant itself counts as passed: work finishing exactly then is late.

    Args:
        deadline: epoch seconds, an RFC 3339 string, or ``None`` for no deadline.
        now: the current time as epoch seconds.

    Returns:
        The seconds left (always positive), or ``None`` when there is no deadline.

    Raises:
        DeadlineExceeded: ``now`` is at or after the deadline.
    """
    epoch = _as_epoch(deadline)
    if epoch is None:
        return None
    left = epoch - now
    if left <= 0.0:
        raise DeadlineExceeded(
            data={"deadline": _describe(epoch), "late_by": round(-left, 6)},
        )
    return left


def _describe(epoch: float) -> str:
    try:
        return format_rfc3339(epoch)
    except UsageError:
        return repr(epoch)


def downstream(
    deadline: Deadline, now: float, budget: float | None = None, *, reserve: float = 0.0
) -> float | None:
    """The deadline to give work handed on to another agent; never later than ours.

    Args:
        deadline: our own deadline (epoch seconds, RFC 3339, or ``None``).
        now: the current time as epoch seconds.
        budget: at most this many seconds for the downstream work (a tool's default
            timeout, a caller's timeout), or ``None``.
        reserve: seconds kept back from our own deadline for the reply to travel back and
            for our own work after it; not applied to ``budget``.

    Returns:
        ``min(deadline - reserve, now + budget)`` over the members that are set, or
        ``None`` when neither a deadline nor a budget is given. The result may already
        lie in the past; :func:`check` it before sending.

    Raises:
        UsageError: ``budget`` or ``reserve`` is negative or not finite.
    """
    if budget is not None and not (math.isfinite(budget) and budget >= 0.0):
        raise UsageError(f"budget must be a finite number >= 0, got {budget!r}")
    if not (math.isfinite(reserve) and reserve >= 0.0):
        raise UsageError(f"reserve must be a finite number >= 0, got {reserve!r}")
    epoch = _as_epoch(deadline)
    if epoch is not None:
        epoch -= reserve
    if budget is None:
        return epoch
    allowed = now + budget
    return allowed if epoch is None else min(epoch, allowed)
