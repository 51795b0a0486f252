"""Date parts for the date and currentdate tests (RFC 5260 section 4).

``parse_header_date`` reads an RFC 5322 section 3.3 date-time (obsolete forms
included, as ``email.utils`` does) and keeps its own zone; ``date_part`` renders
one part of a date in a zone, in the exact formats of RFC 5260 section 4.2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_tz

# RFC 5260 section 4.2: the Modified Julian Day counts from 1858-11-17.
_MJD_EPOCH = date(1858, 11, 17)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def parse_zone(text: str) -> tzinfo:
    """``+hhmm``/``-hhmm`` (checked by the compiler) as a fixed offset."""
    sign = -1 if text[0] == "-" else 1
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return timezone(sign * timedelta(minutes=minutes))


def parse_header_date(value: str, received: bool = False) -> datetime | None:
    """The date-time of a Date-like header field, in its own zone; ``None``
    when it cannot be read (the test then skips the field, RFC 5260 4.1).
    A Received field's date is what follows its last semicolon (RFC 5260
    section 4.1, RFC 5321 section 4.4)."""
    if received:
        value = value.rpartition(";")[2]
    try:
        parts = parsedate_tz(value)
    except (ValueError, IndexError, TypeError):
        return None
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    if abs(offset) >= 24 * 3600:
        return None
    try:
        return datetime(
            year,
            month,
            day,
            hour,
            minute,
            min(second, 59),
            tzinfo=timezone(timedelta(seconds=offset)) if offset else UTC,
        )
    except (ValueError, OverflowError):
        return None


def _zone_text(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    total = int(off.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 60:02d}{total % 60:02d}"


def date_part(dt: datetime, part: str) -> str:
    """One RFC 5260 section 4.2 date part of ``dt`` (already in its zone)."""
    p = part.lower()
    if p == "year":
        return f"{dt.year:04d}"
    if p == "month":
        return f"{dt.month:02d}"
    if p == "day":
        return f"{dt.day:02d}"
    if p == "date":
        return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
    if p == "julian":
        return str((dt.date() - _MJD_EPOCH).days)
    if p == "hour":
        return f"{dt.hour:02d}"
    if p == "minute":
        return f"{dt.minute:02d}"
    if p == "second":
        return f"{dt.second:02d}"
    if p == "time":
        return f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if p == "iso8601":
        # RFC 5260 section 4.2 refers to RFC 3339: "Z" for UTC.
        z = _zone_text(dt)
        zone = "Z" if z in ("+0000", "-0000") else f"{z[:3]}:{z[3:]}"
        return (
            f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}{zone}"
        )
    if p == "std11":
        return (
            f"{_DAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} "
            f"{dt.year:04d} {dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} "
            f"{_zone_text(dt)}"
        )
    if p == "zone":
        return _zone_text(dt)
    if p == "weekday":
        return str((dt.weekday() + 1) % 7)
    raise ValueError(f"unknown date part {part}")
