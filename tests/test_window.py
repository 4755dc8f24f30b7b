from datetime import datetime, timezone

import pytest

from gitmine.errors import UsageError
from gitmine.window import check_every, parse_point, parse_window

NOW = datetime(2026, 8, 31, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("6months", datetime(2026, 2, 28, 12, 0, tzinfo=timezone.utc)),  # clamped to the month's end
        ("2w", datetime(2026, 8, 17, 12, 0, tzinfo=timezone.utc)),
        ("90days", datetime(2026, 6, 2, 12, 0, tzinfo=timezone.utc)),
        ("1y", datetime(2025, 8, 31, 12, 0, tzinfo=timezone.utc)),
        ("12h", datetime(2026, 8, 31, 0, 0, tzinfo=timezone.utc)),
        ("3 days ago", datetime(2026, 8, 28, 12, 0, tzinfo=timezone.utc)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("2024-05-01T10:30:00Z", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-05-01T10:30:00+02:00", datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc)),
        ("now", NOW),
    ],
)
def test_accepted_forms(value, expected):
    assert parse_point(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["bogus", "6 parsecs", "2024-13-01", "yesterday", "-3d", ""])
def test_bad_forms_name_the_accepted_ones(value):
    with pytest.raises(UsageError, match="6months, 2w, 90days, 1y"):
        parse_point(value or "x", now=NOW)


def test_until_before_since_is_refused():
    with pytest.raises(UsageError, match="before --since"):
        parse_window("2026-06-01", "2026-01-01", now=NOW)
    with pytest.raises(UsageError, match=r"--since \(2030-01-01 00:00\) is in the future"):  # no --until was given
        parse_window("2030-01-01", None, now=NOW)


def test_every_values():
    for v in ("commit", "1d", "1w", "tag"):
        assert check_every(v) == v
    with pytest.raises(UsageError, match="commit, 1d, 1w, tag"):
        check_every("2d")


def test_since_all_is_the_whole_history():
    assert parse_window("all", None, now=NOW) == (None, NOW)
    assert parse_window(" ALL ", "2026-01-01", now=NOW)[0] is None
