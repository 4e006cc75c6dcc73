"""File-name patterns and the processed-file memory."""

from __future__ import annotations

from datetime import date

import pytest

from lumisync.luminate.files import DEFAULT_PATTERN, FilePattern, InMemoryProcessedFiles, ProcessedFiles


def test_default_pattern_takes_the_org_and_the_date():
    pattern = FilePattern(DEFAULT_PATTERN, org="acme")
    assert pattern.date_of("acme_changed_constituents_20240301.csv") == date(2024, 3, 1)
    assert pattern.date_of("ACME_Changed_Constituents_20240301.CSV") == date(2024, 3, 1)
    assert pattern.date_of("other_changed_constituents_20240301.csv") is None
    assert pattern.date_of("acme_changed_constituents_20240230.csv") is None
    assert pattern.date_of("acme_changed_constituents_20240301.csv.manifest") is None


def test_without_an_org_any_prefix_matches():
    pattern = FilePattern(DEFAULT_PATTERN)
    assert pattern.date_of("x.y_changed_constituents_20240301.csv") == date(2024, 3, 1)


def test_the_org_is_literal():
    pattern = FilePattern("{org}_{YYYYMMDD}.csv", org="a.b")
    assert pattern.date_of("a.b_20240301.csv") == date(2024, 3, 1)
    assert pattern.date_of("axb_20240301.csv") is None


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("export-{YYYY-MM-DD}.txt", "export-2024-03-01.txt", date(2024, 3, 1)),
        ("{shortname}{YYMMDD}.csv", "acme240301.csv", date(2024, 3, 1)),
        ("{DD}.{MM}.{YYYY}_{*}.csv", "01.03.2024_run7.csv", date(2024, 3, 1)),
    ],
)
def test_date_tokens(pattern, name, expected):
    assert FilePattern(pattern, org="acme").date_of(name) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("changed.csv", "needs a date token"),
        ("{YYYY}{MM}.csv", "needs a date token"),
        ("{YYYYMMDD}-{DD}.csv", "repeats a date part"),
        ("{date}.csv", "unknown token {date}"),
        ("export/{YYYYMMDD}.csv", "must not contain a folder"),
    ],
)
def test_bad_patterns_are_refused(pattern, message):
    with pytest.raises(ValueError, match=message):
        FilePattern(pattern)


def test_memory_is_by_name_size_and_checksum():
    memory: ProcessedFiles = InMemoryProcessedFiles()
    memory.remember("a.csv", 10, "ab" * 32)
    assert memory.seen("a.csv", 10, "ab" * 32)
    assert not memory.seen("a.csv", 11, "ab" * 32)
    assert not memory.seen("a.csv", 10, "cd" * 32)
    assert not memory.seen("b.csv", 10, "ab" * 32)
