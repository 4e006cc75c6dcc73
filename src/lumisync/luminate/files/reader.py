"""Streaming reader of the nightly changed-records CSV (luminate-api.md §11).

Memory stays constant whatever the file's size: rows are yielded one at a time. Each item is a ``Row`` or,
for a record that cannot be used, a ``BadRow`` carrying its physical line number (line breaks inside quoted
fields count) and the reason; the rest of the file goes on. Problems with the file as a whole (no
constituent ID column, two headings meaning the same field, undecodable bytes) raise ``BadFile`` before
any row is yielded; only a field over ``max_field_size`` raises it where it is met, since past it the
file's structure can no longer be trusted.

Encoding "auto" decides once per file, by streaming over its bytes before any row is read:

1. a UTF-16 or UTF-32 byte-order mark names its encoding;
2. strict UTF-8 over the whole file (a UTF-8 BOM is dropped);
3. strict cp1252. It leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined, so a file holding one of them is not
   cp1252; ISO-8859-1 would accept any byte at all, which is why it is never used as a fallback;
4. charset-normalizer's best guess, kept only if it is not ASCII or ISO-8859-1 and decodes the whole file.

Otherwise the file is refused with ``UndecodableFile``, naming the line of the first bad byte. An explicit
encoding is checked the same way up front, so decoding never fails half-way through the rows.
"""

from __future__ import annotations

import codecs
import csv
import operator
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import NamedTuple

import charset_normalizer

from .errors import BadFile, UndecodableFile, UnknownHeading
from .headings import ALIASES, CONS_ID, TIMESTAMP_FIELDS, column_key
from .timestamps import parse_timestamp

AUTO = "auto"
# Luminate fields are short, but a free-text or HTML column can be large; csv's default limit (128 KiB)
# would reject such a file outright.
DEFAULT_MAX_FIELD_SIZE = 64 * 1024 * 1024
_CHUNK = 1 << 20
_SAMPLE = 4 << 20
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip
_NEVER_DETECTED = {"ascii", "latin_1", "iso8859_1"}


class Row(NamedTuple):
    """One usable record; a named tuple, as the cheapest immutable object to build a million times.

    ``values`` maps each column's key (canonical field or normalised heading) to the text as written;
    ``cons_id`` is that text trimmed; ``warnings`` says why a timestamp present in the file is ``None``.
    """

    file: str
    line: int
    cons_id: str
    values: dict[str, str]
    modify_time: datetime | None
    creation_time: datetime | None
    warnings: tuple[str, ...] = ()

    def get(self, key: str, default: str = "") -> str:
        """The value under ``key``, as returned by ``ChangedFileReader.column``."""
        return self.values.get(key, default)


class BadRow(NamedTuple):
    """A record that was skipped, with its physical line number and the reason."""

    file: str
    line: int
    reason: str
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.reason}"


class ChangedFileReader:
    """A changed-records file, opened and checked: iterate over it for its rows (again and again).

    Args:
        path: the local file (as handed over by the fetcher).
        delimiter: one character; ``,`` by default, also tab, ``|`` or ``;``.
        encoding: a codec name, or ``"auto"`` (see the module docstring).
        tz: site time zone for timestamps written without an offset; ``None`` keeps them naive.
        name: the file's name in messages; defaults to the path's name.
        max_field_size: the largest field accepted, in characters; a larger one fails the file.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        delimiter: str = ",",
        encoding: str = AUTO,
        tz: tzinfo | None = None,
        name: str | None = None,
        max_field_size: int = DEFAULT_MAX_FIELD_SIZE,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        if len(delimiter) != 1:
            raise ValueError(f"The delimiter must be one character, not {delimiter!r}.")
        self.delimiter = delimiter
        self.tz = tz
        self.max_field_size = max_field_size
        self.encoding = _resolve_encoding(self.path, self.name, encoding)
        with self._open() as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            header: list[str] = []
            self._header_records = 0
            try:
                while not any(header):
                    header = next(reader)
                    self._header_records += 1
            except StopIteration:
                pass
            except csv.Error as exc:
                raise BadFile(f"{self.name}: the header row is malformed ({exc}).", file=self.name) from None
        if not any(header):
            raise BadFile(f"{self.name} is empty: it has no header row.", file=self.name)
        self.headings: tuple[str, ...] = tuple(header)
        self._index, self._ambiguous = self._map_headings()

    @property
    def keys(self) -> tuple[str, ...]:
        """Keys of the columns kept in ``Row.values``, in file order."""
        return tuple(self._index)

    def column(self, heading: str) -> str:
        """The key of the column a configured "CSV Heading" names, matched like the file's own headings
        (case, spaces, ``_`` and ``-`` ignored; label and DB styles alike)."""
        key = column_key(heading)
        if key in self._ambiguous:
            clash = " and ".join(repr(h) for h in self._ambiguous[key])
            raise UnknownHeading(f"{self.name} has more than one column for {heading!r} ({clash}).")
        if key not in self._index:
            raise UnknownHeading(
                f"{self.name} has no column {heading!r}; its headings are {', '.join(self.headings)}."
            )
        return key

    def __iter__(self) -> Iterator[Row | BadRow]:
        width = len(self.headings)
        keys = tuple(self._index)
        getter = operator.itemgetter(*self._index.values())
        single = len(keys) == 1
        cons_at = self._index[CONS_ID]
        stamps = [key for key in TIMESTAMP_FIELDS if key in self._index]
        name, tz, delimiter = self.name, self.tz, self.delimiter
        with self._open() as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for _ in range(self._header_records):
                next(reader)
            end = reader.line_num
            while True:
                start = end + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    end = reader.line_num
                    if "field limit" in str(exc):
                        raise BadFile(
                            f"{name}, line {start}: a field is larger than the limit of {self.max_field_size} "
                            "characters; raise max_field_size if the file is genuine.",
                            file=name,
                        ) from None
                    yield BadRow(name, start, _malformed(exc, start, end), ())
                    continue
                end = reader.line_num
                if not any(fields):
                    continue
                if len(fields) != width:
                    if len(fields) > width and not any(fields[width:]):
                        fields = fields[:width]
                    else:
                        yield BadRow(name, start, _ragged(len(fields), width, start, end), tuple(fields))
                        continue
                if "\x00" in delimiter.join(fields):
                    yield BadRow(name, start, "contains a NUL byte", tuple(fields))
                    continue
                cons_id = fields[cons_at].strip()
                if not cons_id:
                    yield BadRow(name, start, "the constituent ID is blank", tuple(fields))
                    continue
                if not (cons_id.isascii() and cons_id.isdigit()):
                    yield BadRow(
                        name, start, f"the constituent ID {cons_id!r} is not a number", tuple(fields)
                    )
                    continue
                values = {keys[0]: getter(fields)} if single else dict(zip(keys, getter(fields), strict=True))
                times: dict[str, datetime | None] = {"modify_time": None, "creation_time": None}
                warnings: tuple[str, ...] = ()
                for key in stamps:
                    text = values[key]
                    if text.strip():
                        try:
                            times[key] = parse_timestamp(text, tz)
                        except ValueError as exc:
                            warnings += (f"{name}, line {start}, {key}: {exc}",)
                yield Row(
                    name, start, cons_id, values, times["modify_time"], times["creation_time"], warnings
                )

    def _open(self):
        # csv's field limit is process-wide: each read sets it to this reader's limit (its default of
        # 128 KiB would refuse a genuine large field, and no limit at all would let a runaway quote
        # swallow the whole file into memory).
        csv.field_size_limit(self.max_field_size)
        return self.path.open(encoding=self.encoding, newline="")

    def _map_headings(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        seen: dict[str, list[int]] = {}
        for position, heading in enumerate(self.headings):
            if "\x00" in heading:
                raise BadFile(
                    f"{self.name}: the header row contains NUL bytes; the file is probably UTF-16 or "
                    "corrupt. Check the encoding setting.",
                    file=self.name,
                )
            key = column_key(heading)
            if key:
                seen.setdefault(key, []).append(position)
        index: dict[str, int] = {}
        ambiguous: dict[str, list[str]] = {}
        for key, positions in seen.items():
            index[key] = positions[0]
            if len(positions) > 1:
                described = [f"{self.headings[p]!r} (column {p + 1})" for p in positions]
                if key in ALIASES:
                    raise BadFile(
                        f"{self.name}: the headings {' and '.join(described)} both mean {key}; "
                        "keep only one of them.",
                        file=self.name,
                    )
                ambiguous[key] = [self.headings[p] for p in positions]
        if CONS_ID not in index:
            raise BadFile(self._no_cons_id_message(), file=self.name)
        return index, ambiguous

    def _no_cons_id_message(self) -> str:
        message = (
            f"{self.name} has no constituent ID column (expected one of CONS_ID, Constituent ID, Cons ID, "
            f"Contact ID); its headings are {', '.join(repr(h) for h in self.headings)}."
        )
        if len(self.headings) == 1:
            for candidate, label in (("\t", "tab"), ("|", "|"), (";", ";"), (",", ",")):
                if candidate != self.delimiter and candidate in self.headings[0]:
                    message += f" The header contains {label}: set the delimiter to {label}."
                    break
        return message


def scan(readers: Iterable[ChangedFileReader], ids: ConstituentIds) -> Iterator[tuple[Row | BadRow, bool]]:
    """Every item of the files in order, with ``True`` for a row whose constituent ID is seen for the first
    time. ``ids`` collects the distinct IDs in first-seen order across all the files."""
    for reader in readers:
        for item in reader:
            yield item, isinstance(item, Row) and ids.add(item.cons_id)


def collect_constituent_ids(readers: Iterable[ChangedFileReader]) -> ConstituentIds:
    """The distinct constituent IDs of the files, in first-seen order; bad rows are in ``bad_rows``."""
    ids = ConstituentIds()
    for item, _first in scan(readers, ids):
        if isinstance(item, BadRow):
            ids.bad_rows.append(item)
    return ids


class ConstituentIds:
    """Distinct constituent IDs in first-seen order (a repeat keeps its first position)."""

    def __init__(self) -> None:
        self._ids: dict[str, None] = {}
        self.bad_rows: list[BadRow] = []

    def add(self, cons_id: str) -> bool:
        """Record ``cons_id``; ``True`` if it was not seen before."""
        if cons_id in self._ids:
            return False
        self._ids[cons_id] = None
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, cons_id: object) -> bool:
        return cons_id in self._ids

    def __repr__(self) -> str:
        return f"<ConstituentIds: {len(self._ids)} ids, {len(self.bad_rows)} bad rows>"


def _ragged(count: int, width: int, start: int, end: int) -> str:
    reason = f"has {count} fields where the header has {width}"
    if end > start:
        reason += f" (the record runs over lines {start}-{end}; an unclosed quote is a likely cause)"
    return reason


def _malformed(exc: csv.Error, start: int, end: int) -> str:
    if "unexpected end of data" in str(exc):
        return f"a quote opened on line {start} is never closed; lines {start}-{end} could not be read"
    return f"malformed CSV ({exc}); the record could not be read"


def _resolve_encoding(path: Path, name: str, encoding: str) -> str:
    if encoding.lower() != AUTO:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise ValueError(f"{encoding!r} is not a known encoding.") from None
        chosen = "utf-8-sig" if codec == "utf-8" else codec
        failure = _first_undecodable(path, chosen)
        if failure is not None:
            raise UndecodableFile(
                f"{name} is not valid {encoding}: {failure}. Set the file encoding to 'auto' or to the "
                "encoding the export uses.",
                file=name,
            )
        return chosen
    with path.open("rb") as handle:
        head = handle.read(4)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    failure = _first_undecodable(path, "utf-8-sig")
    if failure is None:
        return "utf-8-sig"
    if _first_undecodable(path, "cp1252") is None:
        return "cp1252"
    # charset-normalizer would read the whole file into memory; a sample of whole lines is enough for it,
    # and the full strict pass below checks its guess.
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE)
    if len(sample) == _SAMPLE and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]
    best = charset_normalizer.from_bytes(sample).best()
    if best is not None:
        detected = codecs.lookup(best.encoding).name.replace("-", "_")
        if detected not in _NEVER_DETECTED and _first_undecodable(path, best.encoding) is None:
            return best.encoding
    raise UndecodableFile(
        f"{name} is neither UTF-8 ({failure}) nor cp1252, and its encoding could not be detected. "
        "Ask for the export in UTF-8, or set the file encoding explicitly.",
        file=name,
    )


def _first_undecodable(path: Path, encoding: str) -> str | None:
    """Where ``path`` stops decoding strictly as ``encoding`` (line and byte), or ``None`` if it all does."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    lines = 1
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the bytes held back from the chunk before, then this chunk.
                bad = exc.object[exc.start : exc.start + 1].hex() or "end of file"
                lines += exc.object.count(b"\n", 0, exc.start)
                position = offset - pending + exc.start
                return f"byte {bad} at offset {position}, line {lines} ({exc.reason})"
            if not chunk:
                return None
            offset += len(chunk)
            lines += chunk.count(b"\n")
