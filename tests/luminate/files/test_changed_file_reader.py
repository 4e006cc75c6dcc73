"""Reading the changed-records CSV corpus in tests/data/changed_files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lumisync.luminate.files import (
    BadFile,
    BadRow,
    ChangedFileReader,
    ConstituentIds,
    Row,
    UndecodableFile,
    UnknownHeading,
    collect_constituent_ids,
    column_key,
    normalise_heading,
    parse_timestamp,
    scan,
)

CORPUS = Path(__file__).resolve().parents[2] / "data" / "changed_files"
NEW_YORK = ZoneInfo("America/New_York")


def read(name: str, **options) -> list[Row | BadRow]:
    return list(ChangedFileReader(CORPUS / name, **options))


def good(items) -> list[Row]:
    return [item for item in items if isinstance(item, Row)]


def bad(items) -> list[BadRow]:
    return [item for item in items if isinstance(item, BadRow)]


def test_db_style_with_crlf_and_a_quoted_comma():
    rows = read("db_style_crlf.csv", tz=NEW_YORK)
    assert [(r.line, r.cons_id) for r in rows] == [(2, "1001234"), (3, "1001235")]
    first = rows[0]
    assert first.values == {
        "cons_id": "1001234",
        "member_id": "A-77",
        "primary_email": "pat@example.org",
        "first_name": "Pat",
        "last_name": "O'Neil, Jr.",
        "mobile_phone": "5551234567",
        "modify_time": "2024-03-01 23:02:40",
    }
    assert first.modify_time == datetime(2024, 3, 1, 23, 2, 40, tzinfo=NEW_YORK)
    assert first.modify_time.utcoffset() == timedelta(hours=-5)
    assert first.creation_time is None and first.warnings == ()


def test_utf8_with_bom():
    reader = ChangedFileReader(CORPUS / "utf8_bom.csv")
    assert reader.headings[0] == "CONS_ID"
    (row,) = list(reader)
    assert (row.cons_id, row.get("first_name"), row.get("last_name")) == ("1001236", "José", "Muñoz")


def test_cp1252_is_detected():
    reader = ChangedFileReader(CORPUS / "cp1252.csv")
    assert reader.encoding == "cp1252"
    (row,) = list(reader)
    assert row.get("first_name") == "Zoë" and row.get("last_name") == "“Smart” Ca€h"


def test_neither_utf8_nor_cp1252_is_detected():
    # 0x81 ("Ѓ" in cp1251) is one of the five bytes cp1252 leaves undefined.
    reader = ChangedFileReader(CORPUS / "cp1251_detected.csv")
    assert reader.encoding == "cp1251"
    assert [r.get("first_name") for r in reader] == ["Ѓорѓи", "Марија"]


def test_explicit_cp1252():
    (row,) = read("cp1252.csv", encoding="cp1252")
    assert row.get("first_name") == "Zoë"


def test_utf16_with_bom_is_detected():
    reader = ChangedFileReader(CORPUS / "utf16.csv")
    assert reader.encoding == "utf-16"
    assert [(r.cons_id, r.get("first_name")) for r in reader] == [("1001263", "Zoë")]


def test_invalid_utf8_fails_with_the_line_when_utf8_is_configured():
    with pytest.raises(
        UndecodableFile, match=r"invalid_utf8.csv is not valid utf-8: byte c3 at offset \d+, line 3"
    ):
        ChangedFileReader(CORPUS / "invalid_utf8.csv", encoding="utf-8")


def test_bytes_no_encoding_explains_are_refused_not_read_as_latin1():
    with pytest.raises(UndecodableFile, match="binary_garbage.csv is neither UTF-8 .* nor cp1252"):
        ChangedFileReader(CORPUS / "binary_garbage.csv")


def test_report_label_headings_and_us_timestamps():
    (row,) = read("labels.csv")
    assert set(row.values) == {
        "cons_id",
        "member_id",
        "primary_email",
        "first_name",
        "last_name",
        "mobile_phone",
        "modify_time",
        "creation_time",
    }
    assert row.modify_time == datetime(2024, 3, 1, 22, 14)
    assert row.creation_time == datetime(2023, 12, 31, 0, 5)


@pytest.mark.parametrize(
    ("name", "delimiter"), [("tab.tsv", "\t"), ("pipe.txt", "|"), ("semicolon.csv", ";")]
)
def test_other_delimiters(name, delimiter):
    (row,) = read(name, delimiter=delimiter)
    assert (row.cons_id, row.get("last_name"), row.get("primary_email")) == (
        "1001239",
        "Lovelace, Countess",
        "tab@example.org",
    )


def test_wrong_delimiter_is_named_in_the_error():
    with pytest.raises(BadFile, match="no constituent ID column.*set the delimiter to tab"):
        ChangedFileReader(CORPUS / "wrong_delimiter.tsv")


def test_quoted_newlines_count_as_physical_lines():
    items = read("quoted_newlines.csv")
    assert [(type(i).__name__, i.line) for i in items] == [("Row", 2), ("BadRow", 6), ("Row", 7)]
    assert items[0].get("notes") == "first line\r\nsecond line\r\nthird line"
    assert str(items[1]) == "quoted_newlines.csv, line 6: the constituent ID 'abc' is not a number"
    assert items[2].get("notes") == "x\ny"


def test_ragged_rows_are_reported_and_the_rest_goes_on():
    items = read("ragged.csv")
    assert [(r.line, r.reason) for r in bad(items)] == [
        (2, "has 6 fields where the header has 7"),
        (3, "has 8 fields where the header has 7"),
    ]
    assert [r.cons_id for r in good(items)] == ["1001244", "1001245"]


def test_unclosed_quote_is_reported_with_the_lines_it_swallowed():
    items = read("unclosed_quote.csv")
    assert [r.cons_id for r in good(items)] == ["1001267"]
    assert [(r.line, r.reason) for r in bad(items)] == [
        (3, "a quote opened on line 3 is never closed; lines 3-4 could not be read")
    ]


def test_malformed_quote_is_a_bad_row(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text('CONS_ID,NOTES\n1,"a"b\n2,"multi\nline"x\n3,ok\n')
    items = list(ChangedFileReader(path))
    assert [(type(i).__name__, i.line) for i in items] == [("BadRow", 2), ("BadRow", 3), ("Row", 5)]
    assert "malformed CSV" in items[0].reason


def test_two_headings_for_one_field_fail_the_file():
    with pytest.raises(
        BadFile, match="'CONS_ID' \\(column 1\\) and 'Constituent ID' \\(column 2\\) both mean cons_id"
    ):
        ChangedFileReader(CORPUS / "duplicate_headers_clash.csv")


def test_duplicate_extra_headings_keep_the_first_and_refuse_lookup():
    reader = ChangedFileReader(CORPUS / "duplicate_headers_extra.csv")
    (row,) = list(reader)
    assert row.get("notes") == "first"
    with pytest.raises(UnknownHeading, match="more than one column for 'Notes'"):
        reader.column("Notes")
    assert reader.column("primary email") == "primary_email"


def test_nul_byte_row_is_bad():
    items = read("nul_byte.csv")
    assert [(r.line, r.reason) for r in bad(items)] == [(2, "contains a NUL byte")]
    assert [r.cons_id for r in good(items)] == ["1001249"]


def test_huge_field_is_read(tmp_path):
    big = "x" * 1_000_000
    path = tmp_path / "huge.csv"
    path.write_text(f'CONS_ID,NOTES\n1001270,"{big}"\n1001271,small\n')
    rows = list(ChangedFileReader(path))
    assert [(r.cons_id, len(r.get("notes"))) for r in rows] == [("1001270", 1_000_000), ("1001271", 5)]


def test_field_over_the_limit_fails_the_file(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("CONS_ID,NOTES\n1001270,ok\n1001271," + "x" * 5000 + "\n")
    reader = ChangedFileReader(path, max_field_size=4096)
    items = iter(reader)
    assert next(items).cons_id == "1001270"
    with pytest.raises(
        BadFile, match="huge.csv, line 3: a field is larger than the limit of 4096 characters"
    ):
        next(items)


def test_missing_constituent_id_column_fails_the_file():
    with pytest.raises(
        BadFile, match="no_cons_id.csv has no constituent ID column.*'MEMBER_ID', 'PRIMARY_EMAIL'"
    ):
        ChangedFileReader(CORPUS / "no_cons_id.csv")


def test_empty_file_fails():
    with pytest.raises(BadFile, match="empty.csv is empty"):
        ChangedFileReader(CORPUS / "empty.csv")


def test_blank_and_non_numeric_ids_are_bad_rows():
    items = read("bad_ids.csv")
    assert [(r.line, r.reason) for r in bad(items)] == [
        (3, "the constituent ID is blank"),
        (4, "the constituent ID '1001-251' is not a number"),
        (5, "the constituent ID '１２３' is not a number"),
    ]
    assert [r.cons_id for r in good(items)] == ["1001250", "1001252"]


def test_timestamps_in_every_format_and_bad_ones_as_warnings():
    rows = read("timestamps.csv", tz=NEW_YORK)
    assert [r.modify_time for r in rows] == [
        datetime(2024, 3, 1, 23, 2, 40, tzinfo=NEW_YORK),
        datetime(2024, 3, 1, 23, 2, 40, tzinfo=UTC),
        None,
        datetime(2024, 3, 1, 13, 5, 9, tzinfo=NEW_YORK),
    ]
    assert rows[0].creation_time == datetime(2024, 3, 1, 23, 2, 40, tzinfo=timezone(timedelta(hours=1)))
    assert rows[2].warnings == (
        "timestamps.csv, line 4, modify_time: '31/02/2024 10:00' is not a timestamp in a known format "
        "(YYYY-MM-DD HH:MM:SS, ISO 8601, or MM/DD/YYYY hh:mm AM)",
        "timestamps.csv, line 4, creation_time: '2024-02-30 10:00:00' is not a timestamp in a known format "
        "(YYYY-MM-DD HH:MM:SS, ISO 8601, or MM/DD/YYYY hh:mm AM)",
    )
    assert read("timestamps.csv")[0].modify_time.tzinfo is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01 23:02:40", datetime(2024, 3, 1, 23, 2, 40)),
        ("03/01/2024 10:14 PM", datetime(2024, 3, 1, 22, 14)),
        ("03/01/2024 12:14 AM", datetime(2024, 3, 1, 0, 14)),
        ("03/01/2024 12:14 PM", datetime(2024, 3, 1, 12, 14)),
        (" 3/1/2024 9:05 a.m. ", datetime(2024, 3, 1, 9, 5)),
    ],
)
def test_parse_timestamp(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["13/01/2024 10:14 PM", "03/01/2024 13:14 PM", "yesterday", ""])
def test_parse_timestamp_refuses(text):
    with pytest.raises(ValueError, match="not"):
        parse_timestamp(text)


def test_heading_normalisation():
    assert normalise_heading("\ufeff  Constituent  ID ") == "constituent_id"
    assert normalise_heading("Gift -_ Amount") == "gift_amount"
    assert column_key("CONS_ID") == column_key("Cons ID") == column_key("contact-id") == "cons_id"
    assert column_key("Modification Time") == column_key("MODIFY_DATE") == "modify_time"
    assert column_key("Phone") == "mobile_phone"
    assert column_key("Transaction ID") == "transaction_id"


def test_configured_headings_find_extra_columns():
    reader = ChangedFileReader(CORPUS / "donations.csv")
    amount, transaction = reader.column("GIFT_AMOUNT"), reader.column("transaction id")
    assert [(r.cons_id, r.get(transaction), r.get(amount)) for r in reader] == [
        ("1001260", "T-1", "25.00"),
        ("1001261", "T-2", "10.00"),
        ("1001260", "T-3", "5.00"),
    ]
    with pytest.raises(UnknownHeading, match="donations.csv has no column 'Gift Aid'"):
        reader.column("Gift Aid")


def test_constituent_ids_are_deduplicated_across_files_while_every_row_is_seen():
    readers = [ChangedFileReader(CORPUS / "donations.csv"), ChangedFileReader(CORPUS / "donations_next.csv")]
    ids = ConstituentIds()
    seen = [(item.get("transaction_id"), first) for item, first in scan(readers, ids)]
    assert seen == [("T-1", True), ("T-2", True), ("T-3", False), ("T-4", True), ("T-5", False)]
    assert list(ids) == ["1001260", "1001261", "1001262"]
    assert list(collect_constituent_ids(readers)) == ["1001260", "1001261", "1001262"]


def test_collect_keeps_bad_rows():
    ids = collect_constituent_ids([ChangedFileReader(CORPUS / "bad_ids.csv")])
    assert list(ids) == ["1001250", "1001252"]
    assert [r.line for r in ids.bad_rows] == [3, 4, 5]


def test_blank_lines_before_the_header_and_between_rows_are_skipped(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\nCONS_ID,NOTES\n\n1001280,a\n,\n1001281,b\n")
    assert [(r.line, r.cons_id) for r in ChangedFileReader(path)] == [(5, "1001280"), (7, "1001281")]


def test_a_reader_can_be_read_twice():
    reader = ChangedFileReader(CORPUS / "db_style_crlf.csv")
    assert [r.cons_id for r in reader] == [r.cons_id for r in reader] == ["1001234", "1001235"]
