"""The Python values the native converter (``src/convert.rs``) hands over because JSON has no
type of their own: ``datetime``/``date``, ``decimal.Decimal`` and integers beyond 64 bits, each
made JSON text here, and the message for a value that has no JSON form (raised as ValueError;
the native side puts the value's path before it); and a snapshot dict as JSON text."""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any, Tuple

# The most bits an integer beyond 64 bits may have to be passed on as its digits: 2,048 bits is at
# most 617 digits, below the lowest limit CPython lets `sys.set_int_max_str_digits` set (640), so
# `str()` never raises CPython's own limit error here.
MAX_INT_BITS = 2048


def special(value: Any) -> Tuple[bool, str]:
    """``(is_number, text)``: a JSON number's text, or a JSON string's value."""
    if isinstance(value, datetime.datetime):
        return False, rfc3339(value)
    if isinstance(value, datetime.date):
        return False, value.isoformat()
    if isinstance(value, decimal.Decimal):
        return False, plain(value)
    if isinstance(value, int):
        # Its digits while they are few (the engine reports the range error for the field that
        # reads it); a longer one is out of every range the engine has and is refused without
        # writing its digits (which CPython may refuse, and does in quadratic time).
        bits = value.bit_length()
        if bits <= MAX_INT_BITS:
            return True, str(value)
        digits = bits * 30103 // 100000 + 1  # log10(2) is 0.30103
        raise ValueError(
            f"an integer of about {digits} digits is out of range: "
            "whole numbers hold 64 bits and decimals 28 significant digits"
        )
    hint = "; a set has no order, pass a sorted list instead" if isinstance(value, (set, frozenset)) else ""
    raise ValueError(f"cannot convert a value of type `{type(value).__qualname__}` to JSON{hint}")


def rfc3339(value: datetime.datetime) -> str:
    """An aware datetime as RFC 3339 (``isoformat``, which is RFC 3339 whenever the offset is a
    whole number of minutes)."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(
            "a datetime without a time zone (naive) is ambiguous; attach one, such as "
            "`tzinfo=datetime.timezone.utc` or a `zoneinfo.ZoneInfo`"
        )
    if offset.seconds % 60 or offset.microseconds:
        raise ValueError(f"the UTC offset `{offset}` is not a whole number of minutes, which RFC 3339 cannot write")
    return value.isoformat()


def plain(value: decimal.Decimal) -> str:
    """A finite Decimal as a numeral: ``Decimal("1E-7")`` prints with an exponent, and is written
    out in full when that stays short (a longer numeral is beyond the engine's 28 digits anyway,
    and the engine says so)."""
    text = str(value)
    if not value.is_finite():
        raise ValueError(f"`{text}` is not a finite number")
    if ("E" in text or "e" in text) and -64 <= value.adjusted() <= 64:
        return format(value, "f")
    return text


def timestamp(value: Any, name: str) -> str:
    """RFC 3339 text for an aware ``datetime`` or text (which the engine then reads)."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        try:
            return rfc3339(value)
        except ValueError as e:
            from . import InputError

            raise InputError(f"`{name}`: {e}") from None
    raise TypeError(f"`{name}` must be a timezone-aware datetime or RFC 3339 text, found `{type(value).__qualname__}`")


def snapshot(value: Any) -> str:
    """A snapshot (a dict, as ``Ledger.snapshot()`` gives it) as compact JSON text for
    ``Ledger.restore``, members in their order: the native converter sorts them, and a recorded
    decision's evidence is in the order it was evaluated. Other values are written as ``special``
    writes them (a ``Decimal`` or ``datetime`` as text); one that has no JSON form is an
    ``InputError``."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_text)
    except (TypeError, ValueError, RecursionError) as e:
        from . import InputError

        raise InputError(f"`snapshot`: {e}") from None


def _text(value: Any) -> Any:
    number, text = special(value)
    return int(text) if number else text
