"""The inbound sync (Luminate → platform): changed files → constituent IDs → getUser → policy → profiles.

A run is prepared once (files read, IDs de-duplicated into checkpointed chunks, files remembered as
processed, all in one transaction) and then works through its chunks. Each chunk is decided and applied in
one transaction of its own together with its report rows and its checkpoint, so a process killed at any
point leaves every chunk either wholly done or not started: running again resumes the same run and does
nothing twice. Reading from Luminate runs on an event loop in a background thread and fetches the next
chunk while the current one is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import multiprocessing
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from lumisync.core import bulk, workers
from lumisync.core.collection import fewer_collections
from lumisync.datasync import services as integration_services
from lumisync.datasync.engine import mapping
from lumisync.datasync.engine.context import SyncContext, load_context, site_config
from lumisync.datasync.engine.locks import run_lock
from lumisync.datasync.engine.policy import (
    PROFILE_FIELDS,
    Category,
    Decision,
    Existing,
    Incoming,
    Snapshot,
    decide,
    withdrawal,
    wrote_beyond_its_number,
)
from lumisync.datasync.models import (
    AuditEntry,
    Direction,
    FieldConflict,
    InboundChunk,
    Integration,
    LinkSnapshot,
    PendingConstituent,
    ProcessedFile,
    SyncRecord,
    SyncRun,
)
from lumisync.datasync.sites import async_luminate_client
from lumisync.luminate import AsyncLuminateClient, NotFound, RunLevelError, TransientError
from lumisync.luminate.files import (
    BadRow,
    ChangedFileError,
    FilePattern,
    FileSource,
    Row,
    column_key,
    fetch_changed_files,
)
from lumisync.subscribers import services as subscriber_services
from lumisync.subscribers.models import Channel, Profile, ProfileStatus, Subscription

log = logging.getLogger(__name__)

CHUNK_SIZE = 500
# From this many chunks, file-mode values are read in a worker process (it takes half a second to start).
PROCESS_MIN_CHUNKS = 10
# A report row's profile status, as ``get_status_display`` words it without rebuilding its table each row.
_STATUS_LABELS = {value: str(label) for value, label in ProfileStatus.choices}
RECONCILE_EVERY = timedelta(days=7)
REPORT_COLUMNS = (
    "run",
    "direction",
    "constituent_id",
    "profile",
    "moved_from_profile",
    "mobile",
    "first_name",
    "last_name",
    "email",
    "profile_status",
    "category",
    "reason",
    "source",
    "changes",
    "created_at",
)
# How far before the newest processed file a run still looks for a file that arrived late.
FILE_LOOKBACK_DAYS = 7
SNAPSHOT_COLUMNS = (
    "integration",
    "constituent_id",
    "profile",
    "fields",
    "opted_in",
    "phone",
    "modified_at",
    "synced_at",
    "reconciled_at",
    "run",
    "phone_before_run",
    "not_found_at",
)


class InboundFailed(Exception):
    """The run stopped on a run-level problem (credentials, file unreadable ...); nothing was written."""


@dataclass(frozen=True)
class InboundOptions:
    trigger: str = SyncRun.Trigger.COMMAND
    dry_run: bool = False
    initial: bool = False
    files: tuple[Path, ...] = ()
    only_ids: tuple[str, ...] = ()
    deadline: datetime | None = None
    progress: Callable[[SyncRun], None] | None = None


@dataclass
class Fetched:
    """One constituent read for a chunk: the mapped record, or why there is none."""

    cons_id: str
    incoming: Incoming | None = None
    source: str = SyncRecord.Source.API
    error: Exception | None = None
    donations: list[dict[str, str]] = field(default_factory=list)
    # The file's modify time, for the policy's row 13 when getUser does not report one.
    modified_at: datetime | None = None
    # File mode: the row's values, read into ``incoming`` when the chunk is worked on.
    values: mapping.Values | None = None


# --- entry point -----------------------------------------------------------------------------------------


def run_inbound(integration: Integration, options: InboundOptions = InboundOptions()) -> SyncRun:
    """Run (or resume) the inbound sync of ``integration``; returns the run, finished or paused.

    Raises:
        RunInProgress: another inbound run of this integration holds the lock.
    """
    with run_lock(integration, Direction.INBOUND) as lease, fewer_collections():
        context = load_context(integration)
        run = None if options.dry_run or options.only_ids else _resumable(integration)
        if run is None:
            run = SyncRun.objects.create(
                integration=integration,
                direction=Direction.INBOUND,
                trigger=options.trigger,
                dry_run=options.dry_run,
                initial_load=options.initial,
                started_at=timezone.now(),
            )
        elif run.status == SyncRun.Status.PAUSED:
            SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING)
            run.status = SyncRun.Status.RUNNING
        file_values = _FileValueReader(context.plan.region)
        try:
            if not run.files:
                # Not prepared, or killed while preparing: whatever chunks it wrote are incomplete.
                run.chunks.all().delete()
                _prepare(context, run, options, file_values)
            _work(context, run, options, lease, file_values)
        except (RunLevelError, InboundFailed, ChangedFileError) as exc:
            fail_run(run, str(exc))
        finally:
            file_values.close()
        return SyncRun.objects.get(pk=run.pk)


def fail_run(run: SyncRun, error: str) -> None:
    """A run-level failure: one Validation Error row says why; what the run had not done waits for the next."""
    with transaction.atomic():
        SyncRecord.objects.create(
            run=run,
            direction=Direction.INBOUND,
            category=Category.VALIDATION_ERROR,
            reason=f"The run stopped: {error}",
            source=SyncRecord.Source.API,
        )
        locked = SyncRun.objects.select_for_update().get(pk=run.pk)
        key = Category.VALIDATION_ERROR.value
        locked.counts[key] = locked.counts.get(key, 0) + 1
        locked.save(update_fields=["counts"])
    run.refresh_from_db(fields=["counts", "files"])
    if not run.files:
        # Failed while preparing: its partial chunks must not be taken over by the next run.
        run.chunks.all().delete()
    _finish(run, SyncRun.Status.FAILED, error=error)


def _resumable(integration: Integration) -> SyncRun | None:
    """An earlier run that did not finish (killed, or paused at the end of its window)."""
    return (
        SyncRun.objects.filter(
            integration=integration,
            direction=Direction.INBOUND,
            dry_run=False,
            status__in=[SyncRun.Status.RUNNING, SyncRun.Status.PAUSED],
        )
        .order_by("started_at")
        .first()
    )


# --- preparing: files -> checkpointed chunks -------------------------------------------------------------


class _ProcessedFiles:
    """The fetcher's memory of processed files, backed by :class:`ProcessedFile`."""

    def __init__(self, integration: Integration):
        self.integration = integration

    def seen(self, name: str, size: int, sha256: str) -> bool:
        return ProcessedFile.objects.filter(
            integration=self.integration, name=name, size=size, sha256=sha256
        ).exists()

    def skipped(self, name: str) -> bool:
        return (
            ProcessedFile.objects.filter(integration=self.integration, name=name)
            .exclude(skipped_by="")
            .exists()
        )

    def remember(self, name: str, size: int, sha256: str) -> None:
        raise AssertionError("files are remembered in the run's preparing transaction")


def _prepare(
    context: SyncContext, run: SyncRun, options: InboundOptions, file_values: _FileValueReader
) -> None:
    integration = context.integration
    if options.only_ids:
        writer = _ChunkWriter(run)
        for cons_id in dict.fromkeys(mapping.constituent_id(cons_id) for cons_id in options.only_ids):
            writer.add(Fetched(cons_id))
        writer.finish([])
        return
    if options.files:
        readers = [integration_services.open_changed_file(integration, path) for path in options.files]
        fetched_files = [(path.name, path.stat().st_size, "") for path in options.files]
        _prepare_from(context, run, options, readers, fetched_files, file_values)
        return
    source = integration_services.file_source(integration)
    with fetch_changed_files(
        source,
        integration_services.file_credentials(integration),
        _ProcessedFiles(integration),
        since=None if options.initial else _oldest_file_date(integration, source),
    ) as result:
        if not result.files:
            detail = f" Not ready (no manifest): {', '.join(result.not_ready)}." if result.not_ready else ""
            if result.held_back:
                detail += f" {len(result.held_back)} newer file(s) wait behind it, in date order."
            run.error = f"No new changed-records file on {result.host}.{detail}"
            run.save(update_fields=["error"])
        readers = [
            integration_services.open_changed_file(integration, item.path, name=item.name)
            for item in result.files
        ]
        _prepare_from(
            context,
            run,
            options,
            readers,
            [(item.name, item.size, item.sha256) for item in result.files],
            file_values,
        )


def _oldest_file_date(integration: Integration, source: FileSource) -> date | None:
    """The oldest file date a run that is not an initial load reads.

    Never before the eve of the first activation, so that the night before it counts while a history left
    on the file server is not taken for new changes (an initial load reads it all). And never more than
    :data:`FILE_LOOKBACK_DAYS` before the newest file already processed, so that a file server keeping
    months of files is not downloaded again every night only to find their checksums remembered.
    """
    floors = []
    if integration.first_activated_at is not None:
        zone = integration.organization.zone
        floors.append(timezone.localtime(integration.first_activated_at, zone).date() - timedelta(days=1))
    pattern = FilePattern(source.pattern, org=source.org)
    processed = [
        day
        for name in ProcessedFile.objects.filter(integration=integration).values_list("name", flat=True)
        if (day := pattern.date_of(name)) is not None
    ]
    if processed:
        floors.append(max(processed) - timedelta(days=FILE_LOOKBACK_DAYS))
    return max(floors, default=None)


class _ChunkWriter:
    """Writes a run's constituents into checkpointed chunks as the files stream by, in short transactions.

    Memory stays flat however large the files: only the chunk being filled is held, plus one small entry
    per constituent ID seen (to process a repeated ID once). A repeat whose chunk is already written is
    merged into it at the end. Nothing counts until :meth:`finish` marks the files processed and sets the
    run's files in one transaction; a run killed before that prepares again from the start.
    """

    FLUSH_EVERY = 20  # chunks per transaction

    def __init__(self, run: SyncRun):
        self.run = run
        self.position = 0
        self.buffer: dict[str, Fetched] = {}
        self.unsaved: list[InboundChunk] = []
        self.seen: dict[Any, int] = {}
        self.late: dict[int, dict[str, Fetched]] = {}
        self.bad: list[SyncRecord] = []
        self.total = 0
        self.bad_count = 0

    @staticmethod
    def _key(cons_id: str) -> Any:
        # A number takes half the memory of its text (IDs come here canonical: no leading zeros).
        return int(cons_id) if cons_id.isascii() and cons_id.isdigit() else cons_id

    def __contains__(self, cons_id: str) -> bool:
        return self._key(cons_id) in self.seen

    def get(self, cons_id: str) -> Fetched | None:
        """The item already taken for ``cons_id`` (to merge a repeated row into), or None."""
        position = self.seen.get(self._key(cons_id))
        if position is None:
            return None
        if position == self.position:
            return self.buffer[cons_id]
        late = self.late.setdefault(position, {})
        return late.setdefault(cons_id, Fetched(cons_id))

    def add(self, item: Fetched) -> None:
        self.seen[self._key(item.cons_id)] = self.position
        self.buffer[item.cons_id] = item
        self.total += 1
        if len(self.buffer) >= CHUNK_SIZE:
            self._close_chunk()

    def add_bad(self, bad: BadRow) -> None:
        self.bad_count += 1
        self.bad.append(
            SyncRecord(
                run=self.run,
                direction=Direction.INBOUND,
                category=Category.VALIDATION_ERROR,
                reason=str(bad),
                source=SyncRecord.Source.FILE,
            )
        )
        if len(self.bad) >= 1000:
            self._flush()

    def _close_chunk(self) -> None:
        if not self.buffer:
            return
        self.unsaved.append(
            InboundChunk(
                run=self.run,
                position=self.position,
                constituent_ids=[_item_json(item) for item in self.buffer.values()],
            )
        )
        self.buffer = {}
        self.position += 1
        if len(self.unsaved) >= self.FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        with transaction.atomic():
            InboundChunk.objects.bulk_create(self.unsaved)
            SyncRecord.objects.bulk_create(self.bad, batch_size=1000)
        self.unsaved, self.bad = [], []

    def finish(self, files, taken_over: list[int] = ()) -> None:
        self._close_chunk()
        with transaction.atomic():
            self._flush()
            for position, repeats in self.late.items():
                chunk = InboundChunk.objects.get(run=self.run, position=position)
                items = [_item_from_json(value) for value in chunk.constituent_ids]
                for item in items:
                    repeat = repeats.get(item.cons_id)
                    if repeat is not None:
                        _merge(item, repeat)
                chunk.constituent_ids = [_item_json(item) for item in items]
                chunk.save(update_fields=["constituent_ids"])
            InboundChunk.objects.filter(pk__in=taken_over).update(done=True, constituent_ids=[])
            ProcessedFile.objects.bulk_create(
                [
                    ProcessedFile(
                        integration=self.run.integration, name=name, size=size, sha256=sha256, run=self.run
                    )
                    for name, size, sha256 in files
                ],
                ignore_conflicts=True,
            )
            self.run.files = [name for name, _size, _sha in files] or ["(none)"]
            self.run.total = self.total
            self.run.counts = {Category.VALIDATION_ERROR.value: self.bad_count} if self.bad_count else {}
            self.run.save(update_fields=["files", "total", "counts"])


def _merge(item: Fetched, repeat: Fetched) -> None:
    """Fold a later row of the same constituent into its item: its donations, the newest modify time and,
    in file mode, the newest row's values (a later row, or a later file, is newer unless its modify time
    says otherwise), so that the last change of the night is the one applied."""
    item.donations.extend(repeat.donations)
    # A file-mode item keeps its modify time in its values only (the chunk's JSON stores it there).
    mine = item.values.modified_at if item.values is not None else item.modified_at
    theirs = repeat.values.modified_at if repeat.values is not None else repeat.modified_at
    if repeat.values is not None and (mine is None or theirs is None or theirs >= mine):
        item.values = repeat.values
        item.source = repeat.source
    if theirs is not None and (mine is None or theirs > mine):
        item.modified_at = theirs
        if item.values is not None and item.values.modified_at is not None:
            item.values = dataclasses.replace(item.values, modified_at=theirs)


def _prepare_from(context, run, options, readers, files, file_values: _FileValueReader) -> None:
    # The file carries no centers, so with centers configured every record is read through the API.
    file_mode = (
        context.integration.take_values_from_file
        and not context.rules.center_ids
        and all(context.plan.file_has_every_value(reader.headings) for reader in readers)
    )
    writer = _ChunkWriter(run)
    for reader in readers:
        for row in reader:
            if isinstance(row, BadRow):
                writer.add_bad(row)
                continue
            donation = _donation(context, row)
            cons_id = mapping.constituent_id(row.cons_id)
            item = writer.get(cons_id)
            if item is None:
                item = Fetched(cons_id, modified_at=row.modify_time)
                if file_mode:
                    item.values = mapping.values_from_file(context.plan, row)
                    item.source = SyncRecord.Source.FILE
                if donation is not None:
                    item.donations.append(donation)
                writer.add(item)
                if file_mode:
                    # Once worth it, the worker process starts while the rest of the file is read.
                    file_values.expect(writer.position)
                continue
            repeat = Fetched(cons_id, donations=[donation] if donation else [], modified_at=row.modify_time)
            if file_mode:
                repeat.values = mapping.values_from_file(context.plan, row)
                repeat.source = SyncRecord.Source.FILE
            _merge(item, repeat)
    # A preview reads what the real run would add as well, and takes nothing over.
    abandoned: list[int] = []
    for chunk in _abandoned_chunks(context.integration):
        abandoned.append(chunk)
        for item in _load(chunk):
            if item.cons_id not in writer:
                writer.add(item)
    for cons_id in _carried_over(context.integration):
        if cons_id not in writer:
            writer.add(Fetched(cons_id))
    for cons_id in _due_for_reconciliation(context.integration, exclude=writer):
        writer.add(Fetched(cons_id))
    if options.dry_run:
        writer.finish([], [])
    else:
        writer.finish(files, abandoned)


def _donation(context: SyncContext, row: Row) -> dict[str, str] | None:
    headings = context.donation_headings
    if "transaction_id" not in headings:
        return None
    values = {attribute: row.get(column_key(heading)) for attribute, heading in headings.items()}
    return values if values.get("transaction_id") else None


def _abandoned_chunks(integration: Integration) -> list[int]:
    """Chunks a failed run never reached: their files are already taken, so this run does them."""
    return list(
        InboundChunk.objects.filter(
            run__integration=integration,
            run__direction=Direction.INBOUND,
            run__dry_run=False,
            run__status=SyncRun.Status.FAILED,
            done=False,
        )
        .order_by("run_id", "position")
        .values_list("pk", flat=True)
    )


def _carried_over(integration: Integration) -> list[str]:
    return list(integration.pending_constituents.values_list("constituent_id", flat=True))


def _due_for_reconciliation(integration: Integration, exclude) -> list[str]:
    """Linked, subscribed constituents to re-read (policy row 10): each at least every 7 days."""
    linked = LinkSnapshot.objects.filter(integration=integration, opted_in=True, profile__isnull=False)
    budget = math.ceil(linked.count() / RECONCILE_EVERY.days)
    if not budget:
        return []
    stale = timezone.now() - RECONCILE_EVERY + timedelta(days=1)
    due = linked.exclude(reconciled_at__gt=stale).order_by(F("reconciled_at").asc(nulls_first=True), "id")
    return [
        cons_id for cons_id in due.values_list("constituent_id", flat=True)[:budget] if cons_id not in exclude
    ]


def _item_json(item: Fetched) -> Any:
    if item.values is None and not item.donations and item.modified_at is None:
        return item.cons_id
    value: dict[str, Any] = {"id": item.cons_id}
    if item.values is None and item.modified_at is not None:
        value["modified"] = item.modified_at.isoformat()
    if item.values is not None:
        values = item.values
        value["values"] = {
            "fields": values.fields,
            "phone_raw": values.phone_raw,
            "opted_in": values.opted_in,
            "modified_at": values.modified_at.isoformat() if values.modified_at else None,
        }
    if item.donations:
        value["donations"] = item.donations
    return value


def _item_from_json(value: Any) -> Fetched:
    if isinstance(value, str):
        return Fetched(value)
    modified = value.get("modified")
    item = Fetched(
        value["id"],
        donations=value.get("donations", []),
        modified_at=datetime.fromisoformat(modified) if modified else None,
    )
    data = value.get("values")
    if data is not None:
        item.values = mapping.Values(
            cons_id=item.cons_id,
            fields=data["fields"],
            phone_raw=data["phone_raw"],
            opted_in=data["opted_in"],
            modified_at=datetime.fromisoformat(data["modified_at"]) if data["modified_at"] else None,
        )
        item.source = SyncRecord.Source.FILE
    elif (read := value.get("file")) is not None:
        # A chunk prepared before file-mode values were kept unread (a run resumed across an upgrade).
        item.incoming = Incoming(
            cons_id=item.cons_id,
            fields=read["fields"],
            phone_raw=read["phone_raw"],
            phone=read["phone"],
            phone_problem=read["phone_problem"],
            opted_in=read["opted_in"],
            modified_at=datetime.fromisoformat(read["modified_at"]) if read["modified_at"] else None,
            email_problem=read.get("email_problem"),
            phone_zone=read.get("zone"),
        )
        item.source = SyncRecord.Source.FILE
    return item


# --- working through the chunks --------------------------------------------------------------------------


class _Reader:
    """getUser (and getUserCenters, getUserGroups when needed) on an event loop in a background thread.

    The chunks handed to :meth:`read` are read as one stream: the next chunk's requests start as the
    last of the previous chunk's are in flight, so no chunk boundary leaves the connections idle while
    its stragglers come back. The loop only sends and receives: mapping the replies, like the database
    work, is done on the caller's thread, so a reply never waits for the loop to map others.
    """

    def __init__(self, context: SyncContext, file_values: _FileValueReader, *, chunks: int):
        self.context = context
        self.file_values = file_values
        self._chunks_to_read = chunks
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="lumisync-inbound-reader", daemon=True
        )
        self.thread.start()
        self._client: AsyncLuminateClient | None = None
        self._feed: asyncio.Queue[str] | None = None
        self._stream: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        # The items sent for reading, by constituent ID, with the chunk each belongs to.
        self._waiting: dict[str, list[tuple[Fetched, _ChunkRead]]] = {}
        self._chunks: set[_ChunkRead] = set()
        self._failure: Exception | None = None

    @property
    def client(self) -> AsyncLuminateClient:
        # Built on first use: a file-mode run without group mappings never talks to Luminate.
        if self._client is None:
            self._client = async_luminate_client(site_config(self.context.integration))
        return self._client

    def read(self, items: list[Fetched]) -> _ChunkRead:
        """Start reading every item still without values; the chunk's :meth:`_ChunkRead.result` waits."""
        from_file = [item for item in items if item.values is not None]
        if from_file:
            self.file_values.expect(self._chunks_to_read)  # a resumed run, not prepared by this process
        chunk = _ChunkRead(items, self._map, self.file_values.start(from_file) if from_file else None)
        self.loop.call_soon_threadsafe(self._add, chunk)
        return chunk

    def _add(self, chunk: _ChunkRead) -> None:
        wanted = [item for item in chunk.items if item.incoming is None and item.values is None]
        if not wanted:
            chunk.finish()
            return
        if self._failure is not None:
            chunk.fail(self._failure)
            return
        if self._stream is None:
            self._feed = asyncio.Queue()
            self._stream = self.loop.create_task(self._read_stream())
        chunk.left = len(wanted)
        self._chunks.add(chunk)
        for item in wanted:
            self._waiting.setdefault(item.cons_id, []).append((item, chunk))
            self._feed.put_nowait(item.cons_id)

    async def _read_stream(self) -> None:
        async def ids():
            while True:
                yield await self._feed.get()

        try:
            async with contextlib.aclosing(
                self.client.get_users(ids(), fields=self.context.plan.api_fields())
            ) as results:
                async for result in results:
                    self._arrived(result)
        except Exception as exc:
            # A run-level error (or a bug): every chunk waiting for its reads fails with it, and so does
            # every chunk handed over later. That includes a chunk whose own reads had all come back
            # while the next chunk's failed: the run stops either way, and that chunk is applied when the
            # run is resumed.
            self._failure = exc
            for chunk in list(self._chunks):
                chunk.fail(exc)
            self._chunks.clear()

    def _arrived(self, result) -> None:
        waiting = self._waiting[result.cons_id]
        item, chunk = waiting.pop(0)
        if not waiting:
            del self._waiting[result.cons_id]
        if not result.ok:
            item.error = result.error
        elif self.context.rules.center_ids:
            # Its centers are read while the other reads go on.
            task = self.loop.create_task(self._read_centers(item, result.record, chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        else:
            chunk.replies.append((item, result.record, ()))
        self._done(chunk)

    async def _read_centers(self, item: Fetched, record: dict, chunk: _ChunkRead) -> None:
        try:
            centers = await self.client.get_user_centers(cons_id=item.cons_id)
        except RunLevelError as exc:
            self._chunks.discard(chunk)
            chunk.fail(exc)
            return
        except Exception as exc:
            item.error = exc
        else:
            chunk.replies.append((item, record, [str(center.get("id", "")) for center in centers]))
        self._done(chunk)

    def _done(self, chunk: _ChunkRead) -> None:
        chunk.left -= 1
        if chunk.left == 0:
            self._chunks.discard(chunk)
            chunk.finish()

    def _map(self, item: Fetched, record: dict, centers) -> None:
        incoming = mapping.from_api(self.context.plan, record, centers)
        if incoming.modified_at is None and item.modified_at is not None:
            incoming = dataclasses.replace(incoming, modified_at=item.modified_at)
        item.incoming = incoming

    def groups(self, cons_id: str) -> set[str]:
        future = asyncio.run_coroutine_threadsafe(self.client.get_user_groups(cons_id=cons_id), self.loop)
        return {str(group.get("id", "")) for group in future.result()}

    def close(self) -> None:
        """Stop reading (what is in flight is cancelled) and close the client."""

        async def stop() -> None:
            tasks = [task for task in (self._stream, *self._tasks) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for chunk in self._chunks:
                chunk.future.cancel()
            if self._client is not None:
                await self._client.aclose()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


class _FileValueReader:
    """Reads file-mode values into records (:func:`mapping.read_all`). In a run with enough of them (see
    :meth:`expect`), it does so in a worker process, a chunk ahead, so that parsing the next
    chunk's numbers and addresses (most of a file-mode record's mapping) overlaps writing this one;
    otherwise, or if the worker is lost, in this process."""

    def __init__(self, region: str):
        self.region = region
        self._pool: ProcessPoolExecutor | None = None
        self._worker_lost = False

    def expect(self, chunks: int) -> None:
        """Note that the run has (at least) ``chunks`` chunks of file values: from
        :data:`PROCESS_MIN_CHUNKS` on, the worker process starts."""
        if chunks >= PROCESS_MIN_CHUNKS:
            self.use_worker()

    def use_worker(self) -> None:
        """Start the worker process now (it takes about half a second), unless it runs or was lost."""
        if self._pool is not None or self._worker_lost:
            return
        # Spawned rather than forked, as this process runs threads.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=workers.end_with_parent,
        )
        try:
            self._pool.submit(int)
        except Exception as exc:
            self._lost(exc)

    def start(self, items: list[Fetched]) -> Callable[[], None]:
        """Start reading ``items``' values; the function returned gives each item its record, waiting if need be."""
        values = [item.values for item in items]
        future = None
        if self._pool is not None:
            try:
                future = self._pool.submit(mapping.read_all, values, self.region)
            except Exception as exc:  # the worker is only for speed: this process reads them as well
                self._lost(exc)

        def finish() -> None:
            for item, incoming in zip(items, self._result(future, values), strict=True):
                item.incoming = incoming

        return finish

    def _result(self, future: Future | None, values: list[mapping.Values]) -> list[Incoming]:
        if future is not None:
            try:
                return future.result()
            except Exception as exc:
                # Lost (killed, out of memory) or unable to start (say, inside a daemonic process). A fault
                # in reading itself would be raised again just below, in this process.
                self._lost(exc)
        return mapping.read_all(values, self.region)

    def _lost(self, exc: Exception) -> None:
        self._worker_lost = True
        if self._pool is not None:
            log.warning(
                "The worker process reading file values is lost (%s: %s); they are read in this process.",
                type(exc).__name__,
                exc,
            )
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class _ChunkRead:
    """One chunk's items on their way through the reader, and the future its caller waits on."""

    def __init__(
        self,
        items: list[Fetched],
        map_reply: Callable[[Fetched, dict, Any], None],
        finish_file_values: Callable[[], None] | None,
    ):
        self.items = items
        self.left = 0
        self.future: Future = Future()
        # The records read, with their centers, mapped by the caller once all have come.
        self.replies: list[tuple[Fetched, dict, Any]] = []
        self._map_reply = map_reply
        self._finish_file_values = finish_file_values

    def result(self) -> list[Fetched]:
        """The chunk's items, every one read and mapped (or with its error); waits for the reads."""
        items = self.future.result()
        for item, record, centers in self.replies:
            self._map_reply(item, record, centers)
        self.replies.clear()
        if self._finish_file_values is not None:
            self._finish_file_values()
            self._finish_file_values = None
        return items

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(self.items)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


def _work(
    context: SyncContext, run: SyncRun, options: InboundOptions, lease, file_values: _FileValueReader
) -> None:
    chunks = list(run.chunks.filter(done=False).order_by("position").values_list("pk", flat=True))
    reader = _Reader(context, file_values, chunks=len(chunks)) if chunks else None
    foreseen = _Foreseen(run) if run.dry_run else None
    reads: dict[int, _ChunkRead] = {}

    def read_ahead(index: int) -> None:
        if index < len(chunks) and index not in reads:
            reads[index] = reader.read(_load(chunks[index]))

    try:
        read_ahead(0)
        for index, chunk in enumerate(chunks):
            # The next chunk goes to the reader before this one is waited for, so the reads never run dry.
            read_ahead(index + 1)
            items = reads.pop(index).result()
            _apply_chunk(context, run, chunk, items, reader, foreseen)
            lease.renew()
            run.refresh_from_db(fields=["done", "counts"])
            if options.progress:
                options.progress(run)
            if (
                options.deadline is not None
                and timezone.now() >= options.deadline
                and index + 1 < len(chunks)
            ):
                _finish(run, SyncRun.Status.PAUSED)
                return
            if context.integration.active and not run.dry_run and _deactivated(context.integration):
                _finish(
                    run,
                    SyncRun.Status.PAUSED,
                    error="Deactivated during the run; it resumes on reactivation.",
                )
                return
    finally:
        # A run that stops early (paused, deactivated, failed) reads no further: the reads in flight are
        # cancelled as the reader closes.
        if reader is not None:
            reader.close()
    run.refresh_from_db()
    bad = run.counts.get(Category.UNABLE_TO_UPDATE.value, 0) + run.counts.get(
        Category.PROCESSING_ERROR.value, 0
    )
    _finish(run, SyncRun.Status.PARTIAL if bad else SyncRun.Status.SUCCEEDED)


def _deactivated(integration: Integration) -> bool:
    return not Integration.objects.filter(pk=integration.pk, active=True).exists()


def _load(chunk: int) -> list[Fetched]:
    return _items(InboundChunk.objects.get(pk=chunk))


def _items(chunk: InboundChunk) -> list[Fetched]:
    return [_item_from_json(value) for value in chunk.constituent_ids]


def _finish(run: SyncRun, status: str, *, error: str = "") -> None:
    run.status = status
    run.finished_at = timezone.now()
    if error:
        run.error = error
    run.save(update_fields=["status", "finished_at", "error"])


# --- one chunk: decide, then apply in one transaction ---------------------------------------------------


@dataclass
class _Outcome:
    item: Fetched
    decision: Decision | None = None
    category: str = ""
    reason: str = ""
    profile: Profile | None = None
    # The mobile number of the profile the constituent was linked to when the run reached it.
    phone_before_run: str = ""


def _apply_chunk(
    context, run, chunk: int, items: list[Fetched], reader: _Reader, foreseen: _Foreseen | None
) -> None:
    """Decide the chunk's records and apply them; a preview (``foreseen`` given) writes only its report."""
    organization = context.organization
    records = [item for item in items if item.error is None and item.incoming is not None]
    ids = [item.cons_id for item in items]
    by_link = {
        p.constituent_id: p for p in Profile.objects.filter(organization=organization, constituent_id__in=ids)
    }
    phones = {item.incoming.phone for item in records if item.incoming.phone}
    by_phone = {
        p.phone_number: p for p in Profile.objects.filter(organization=organization, phone_number__in=phones)
    }
    profiles = {p.pk: p for p in [*by_link.values(), *by_phone.values()]}
    snapshots = {
        s.constituent_id: s
        for s in LinkSnapshot.objects.filter(integration=context.integration, constituent_id__in=ids)
    }
    subscriptions = subscriber_services.load_subscriptions(profiles.values())
    at_phone = {phone: _existing(profile, subscriptions, context) for phone, profile in by_phone.items()}
    if foreseen is not None:
        at_phone.update(foreseen.profiles_at(phones, by_phone))
    holders = _holders_before_run(context, run, by_phone, foreseen)
    winners = _phone_claims(records, holders)
    earlier = _claims_of_earlier_chunks(context, run, at_phone, records, holders, foreseen)
    displaced: list[tuple[_Claim, str, str]] = []

    outcomes: list[_Outcome] = []
    for item in items:
        outcome = _Outcome(item)
        outcomes.append(outcome)
        if item.error is not None or item.incoming is None:
            outcome.category, outcome.reason = _error_outcome(item)
            outcome.profile = by_link.get(item.cons_id)
            continue
        record = item.incoming
        linked = by_link.get(record.cons_id)
        if linked is not None:
            outcome.phone_before_run = linked.phone_number
        snapshot = snapshots.get(record.cons_id)
        if record.phone and winners.get(record.phone, record.cons_id) != record.cons_id:
            _lost_claim(outcome, context, subscriptions, linked, snapshot, winners[record.phone])
            continue
        claim = earlier.get(record.phone) if record.phone else None
        if claim is not None and claim.key >= _claim_key(record.cons_id, record.modified_at):
            _lost_claim(outcome, context, subscriptions, linked, snapshot, claim.cons_id)
            continue
        matched_as = at_phone.get(record.phone) if record.phone else None
        if claim is not None:
            matched_as = dataclasses.replace(matched_as, constituent_id=None)
        elif matched_as is not None and holders.get(record.phone) not in (None, matched_as.constituent_id):
            # Its holder at the start of the run moved off it in an earlier chunk: still held (row 12).
            matched_as = dataclasses.replace(matched_as, constituent_id=holders[record.phone])
        decision = decide(
            context.rules,
            record,
            by_link=_existing(linked, subscriptions, context),
            by_phone=matched_as,
            snapshot=_snapshot(snapshot),
            path_for=lambda cons_id=record.cons_id: context.choice(_path_for(context, reader, cons_id)),
        )
        if claim is not None and (decision.create or decision.link):
            # An older record of this run took the number in an earlier chunk: this newer one wins it. A
            # newer record that takes nothing (not imported, skipped) leaves the older one's outcome as is.
            displaced.append((claim, record.cons_id, record.phone))
        outcome.decision = decision
        outcome.category = decision.category
        outcome.reason = decision.reason
        outcome.profile = profiles.get(decision.profile_id) if decision.profile_id else linked

    with transaction.atomic():
        if foreseen is None:
            _apply_decisions(context, run, outcomes, profiles, subscriptions)
            _carry_over(context.integration, outcomes)
            _flag_not_found(context.integration, outcomes)
        else:
            foreseen.add(context, outcomes, by_link, at_phone, subscriptions)
        _report(run, outcomes)
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[str(outcome.category)] = counts.get(str(outcome.category), 0) + 1
        for claim, winner, phone in displaced:
            _displace(context, run, claim, winner, phone, counts, dry_run=foreseen is not None)
        locked = SyncRun.objects.select_for_update().get(pk=run.pk)
        locked.done += len(outcomes)
        for category, number in counts.items():
            locked.counts[category] = locked.counts.get(category, 0) + number
        locked.would_text_without_opt_in += sum(
            1
            for outcome in outcomes
            if outcome.decision and outcome.decision.subscribe_path and not outcome.item.incoming.opted_in
        )
        locked.save(update_fields=["done", "counts", "would_text_without_opt_in"])
        InboundChunk.objects.filter(pk=chunk).update(done=True, constituent_ids=[])


def _displace(
    context, run, claim: _Claim, winner: str, phone: str, counts: dict[str, int], *, dry_run: bool
) -> None:
    """A newer record of this chunk took ``phone`` from the older record of an earlier chunk that ``claim``
    names. When all the older record did is now the newer one's (the profile at that number, which it
    created or linked in this run), it is Skipped Members as if the two had met in one chunk. When it also
    changed another profile (moved its link off it, opted it out), those writes stay, so its row keeps
    what it did and says where the number went."""
    taken = f"{_claim_reason(winner, phone)} The link moved to it."
    rows = SyncRecord.objects.filter(run=run, constituent_id=claim.cons_id)
    if claim.wrote_elsewhere:
        rows.update(
            reason=Concat(F("reason"), Value(f" Later in this run: {taken}"), output_field=TextField())
        )
    else:
        rows.update(category=Category.SKIPPED_MEMBERS, reason=taken, profile=None, changes={})
        counts[claim.category] = counts.get(claim.category, 0) - 1
        skipped = Category.SKIPPED_MEMBERS.value
        counts[skipped] = counts.get(skipped, 0) + 1
    if not dry_run:
        LinkSnapshot.objects.filter(integration=context.integration, constituent_id=claim.cons_id).update(
            profile=None
        )


def _lost_claim(outcome: _Outcome, context, subscriptions, linked, snapshot, winner: str) -> None:
    """Skipped Members: another record of the run wins the mobile number. A linked constituent's opt-in
    withdrawal still applies to its profile (consent wins over the claim)."""
    record = outcome.item.incoming
    reason = _claim_reason(winner, record.phone)
    decision = withdrawal(record, _existing(linked, subscriptions, context), _snapshot(snapshot), reason)
    if decision is None:
        outcome.category, outcome.reason = Category.SKIPPED_MEMBERS, reason
        return
    outcome.decision, outcome.category, outcome.reason = decision, decision.category, decision.reason
    outcome.profile = linked


def _error_outcome(item: Fetched) -> tuple[str, str]:
    error = item.error
    if isinstance(error, NotFound):
        return Category.PROCESSING_ERROR, (
            f"Constituent {item.cons_id} was not found in Luminate (deleted or merged); any link is kept."
        )
    if isinstance(error, TransientError):
        return (
            Category.UNABLE_TO_UPDATE,
            f"Luminate did not answer after retries ({error}); retried next run.",
        )
    return Category.PROCESSING_ERROR, f"Luminate refused to read constituent {item.cons_id}: {error}"


def _claim_key(cons_id: str, modified_at: datetime | None) -> tuple[float, int]:
    """Of two records claiming one mobile number, the greater key wins: newer modification, then higher ID."""
    return (
        modified_at.timestamp() if modified_at else float("-inf"),
        int(cons_id) if cons_id.isascii() and cons_id.isdigit() else 0,
    )


def _claim_reason(winner: str, phone: str) -> str:
    return f"Constituent {winner} claims the same mobile number {phone} with a newer modification (or a higher ID)."


def _phone_claims(records: Iterable[Fetched], holders: dict[str, str]) -> dict[str, str]:
    """For each mobile number the chunk's records claim and nobody held at the start of the run, the
    constituent that wins it (newest, then highest ID). A held number is not contested: row 12 keeps it
    for its holder."""
    best: dict[str, tuple] = {}
    for item in records:
        record = item.incoming
        if not record.phone or record.phone in holders:
            continue
        key = _claim_key(record.cons_id, record.modified_at)
        if record.phone not in best or key > best[record.phone][0]:
            best[record.phone] = (key, record.cons_id)
    return {phone: cons_id for phone, (_key, cons_id) in best.items()}


@dataclass(frozen=True)
class _Claim:
    cons_id: str
    key: tuple[float, int]
    category: str
    # Its decision also moved a link off another profile or opted a profile out (writes that stay).
    wrote_elsewhere: bool


def _holders_before_run(
    context, run: SyncRun, by_phone: dict[str, Profile], foreseen: _Foreseen | None
) -> dict[str, str]:
    """The constituent each stored profile at the chunk's mobile numbers was linked to when the run
    started. Judging row 12 against those links, not against what earlier chunks wrote, keeps the outcome
    independent of the order the records come in."""
    stored = {phone: profile.constituent_id for phone, profile in by_phone.items() if profile.constituent_id}
    if foreseen is not None:
        return stored  # a preview writes nothing: the stored links are still those of the start
    written = LinkSnapshot.objects.filter(integration=context.integration, run=run)
    holders = dict(
        written.filter(phone_before_run__in=list(by_phone)).values_list("phone_before_run", "constituent_id")
    )
    linked_in_run = set(
        written.filter(constituent_id__in=list(stored.values())).values_list("constituent_id", flat=True)
    )
    for phone, cons_id in stored.items():
        if phone not in holders and cons_id not in linked_in_run:
            holders[phone] = cons_id
    return holders


def _claims_of_earlier_chunks(
    context,
    run: SyncRun,
    at_phone: dict[str, Existing],
    records,
    holders: dict[str, str],
    foreseen: _Foreseen | None,
) -> dict[str, _Claim]:
    """Mobile numbers of this chunk, held by nobody at the start of the run, that a constituent processed
    earlier in this run took: the outcome must not depend on which chunk a record fell in, so the newer of
    the two wins whatever the order."""
    here = {item.cons_id for item in records}
    owners = {
        profile.constituent_id: phone
        for phone, profile in at_phone.items()
        if profile.constituent_id and profile.constituent_id not in here and phone not in holders
    }
    if not owners:
        return {}
    # A record Luminate did not answer for claims nothing: its number tonight is unknown.
    processed = {
        cons_id: (category, reason)
        for cons_id, category, reason in SyncRecord.objects.filter(run=run, constituent_id__in=list(owners))
        .exclude(category__in=[Category.UNABLE_TO_UPDATE, Category.PROCESSING_ERROR])
        .values_list("constituent_id", "category", "reason")
    }
    linked = {}
    if foreseen is not None:
        for cons_id in processed:
            snapshot = foreseen.snapshot_of(cons_id, owners[cons_id])
            if snapshot is not None:
                linked[cons_id] = snapshot
    unknown = [cons_id for cons_id in processed if cons_id not in linked]
    if unknown:
        linked.update(
            (cons_id, (phone, modified_at))
            for cons_id, phone, modified_at in LinkSnapshot.objects.filter(
                integration=context.integration, constituent_id__in=unknown
            ).values_list("constituent_id", "phone", "modified_at")
        )
    claims = {}
    for cons_id, (phone, modified_at) in linked.items():
        if phone == owners[cons_id]:
            category, reason = processed[cons_id]
            claims[phone] = _Claim(
                cons_id, _claim_key(cons_id, modified_at), category, wrote_beyond_its_number(reason)
            )
    return claims


class _Changed(NamedTuple):
    """A stored profile as a preview's earlier chunks would have changed it (or a new one, once another
    record took it over)."""

    profile_id: int
    constituent_id: str | None
    synced_status: str
    opted_out_globally: bool
    updated_at: datetime | None
    # None: the stored profile's fields; a constituent ID: those fields (a new profile's are empty) with
    # the changes of that constituent's report row of the preview; a dict: the fields themselves.
    fields: str | dict[str, str] | None


class _Foreseen:
    """What a preview's earlier chunks would have written that its later chunks read back.

    The real run reads back, in each chunk, what its earlier chunks wrote: the profiles created, linked,
    unlinked, updated or opted out at the mobile numbers the chunk's records claim, and the link snapshot
    that says which record of the run holds each number. A preview writes neither, so it keeps them here
    and each of its chunks decides on what the real run would find. Kept small, for a preview of a whole
    initial load: per number a record would hold, its constituent, modify time and (for a new profile)
    subscription; a new profile's fields are read back from its report row when a later record claims
    the number.
    """

    def __init__(self, run: SyncRun):
        self.run = run
        # By number: the record whose link snapshot holds it, its modify time, and the subscription of
        # the profile it created there (None when it created none).
        self.holds: dict[str, tuple[str, datetime | None, str | None]] = {}
        self.changed: dict[str, _Changed] = {}
        self._new_ids = itertools.count(-1, -1)

    def snapshot_of(self, cons_id: str, phone: str) -> tuple[str, datetime | None] | None:
        """The phone and modify time of the link snapshot the real run would have saved for ``cons_id``,
        when it is the one holding ``phone``."""
        held = self.holds.get(phone)
        return (phone, held[1]) if held is not None and held[0] == cons_id else None

    def profiles_at(self, phones: Iterable[str], stored: dict[str, Profile]) -> dict[str, Existing]:
        found: dict[str, tuple[_Changed, dict[str, str]]] = {}
        for phone in phones:
            if phone in self.changed:
                entry = self.changed[phone]
            elif phone in self.holds and self.holds[phone][2] is not None:
                cons_id, _modified, status = self.holds[phone]
                entry = _Changed(next(self._new_ids), cons_id, status, False, None, cons_id)
            else:
                continue
            base = {name: getattr(stored[phone], name) for name in PROFILE_FIELDS} if phone in stored else {}
            found[phone] = (entry, base)
        rows = {entry.fields for entry, _base in found.values() if isinstance(entry.fields, str)}
        changes = (
            dict(
                SyncRecord.objects.filter(run=self.run, constituent_id__in=rows).values_list(
                    "constituent_id", "changes"
                )
            )
            if rows
            else {}
        )
        profiles = {}
        for phone, (entry, base) in found.items():
            if isinstance(entry.fields, dict):
                fields = entry.fields
            else:
                fields = {**dict.fromkeys(PROFILE_FIELDS, ""), **base}
                if entry.fields is not None:
                    fields.update((name, new) for name, (_old, new) in changes[entry.fields].items())
            profiles[phone] = Existing(
                profile_id=entry.profile_id,
                constituent_id=entry.constituent_id,
                phone=phone,
                fields=fields,
                opted_out_globally=entry.opted_out_globally,
                synced_status=entry.synced_status,
                updated_at=entry.updated_at,
            )
        return profiles

    def add(self, context: SyncContext, outcomes: list[_Outcome], by_link, at_phone, subscriptions) -> None:
        """What :func:`_apply_decisions` and :func:`_save_snapshots` would write for ``outcomes``."""
        state = {profile.profile_id: profile for profile in at_phone.values()}
        for profile in by_link.values():
            state.setdefault(profile.pk, _existing(profile, subscriptions, context))
        # How each profile's fields are kept (see _Changed.fields).
        source: dict[int, str | dict[str, str] | None] = {}
        for phone, profile in at_phone.items():
            if phone in self.changed:
                source[profile.profile_id] = self.changed[phone].fields
            elif profile.profile_id < 0:
                source[profile.profile_id] = profile.constituent_id
        touched: dict[int, Existing] = {}

        def change(profile: Existing, **values) -> None:
            kept = source.get(profile.profile_id)
            if isinstance(kept, str) and values.get("constituent_id", kept) != kept:
                # The report row of the record the link moves away from may be rewritten (_displace).
                source[profile.profile_id] = dict(profile.fields)
            state[profile.profile_id] = touched[profile.profile_id] = dataclasses.replace(profile, **values)

        decided = [outcome for outcome in outcomes if outcome.decision is not None]
        writes = [outcome for outcome in decided if outcome.decision.writes]
        for outcome in writes:
            if outcome.decision.unlink_profile_id:
                change(state[outcome.decision.unlink_profile_id], constituent_id=None)
        now = timezone.now()
        created: dict[str, str] = {}
        for outcome in writes:
            decision = outcome.decision
            record = outcome.item.incoming
            values = {name: new for name, (_old, new) in decision.field_changes.items()}
            status = "never"
            if decision.subscribe_path is not None:
                path = context.paths_by_id[decision.subscribe_path.path_id]
                if path.active:
                    status = "pending" if path.requires_confirmation else "active"
            if decision.create:
                created[record.phone] = status
            elif decision.profile_id is not None:
                profile = state[decision.profile_id]
                update: dict[str, Any] = {}
                if values:
                    before = source.get(profile.profile_id)
                    source[profile.profile_id] = (
                        record.cons_id if before is None else {**profile.fields, **values}
                    )
                    update["fields"] = {**profile.fields, **values}
                if decision.link:
                    update["constituent_id"] = record.cons_id
                if decision.subscribe_path is not None:
                    update["synced_status"] = status
                if update:
                    change(profile, **update)
            if decision.withdraw_profile_id:
                withdrawn = state[decision.withdraw_profile_id]
                if withdrawn.synced_status != "never":
                    change(withdrawn, synced_status="opted_out")
        for outcome in decided:
            snapshot = outcome.decision.next_snapshot
            if snapshot is not None and snapshot.phone:
                status = created.get(snapshot.phone) if outcome.decision.create else None
                self.holds[snapshot.phone] = (outcome.item.cons_id, snapshot.modified_at, status)
        for profile in touched.values():
            self.changed[profile.phone] = _Changed(
                profile.profile_id,
                profile.constituent_id,
                profile.synced_status,
                profile.opted_out_globally,
                profile.updated_at or now,
                source.get(profile.profile_id),
            )


def _synced_status(profile: Profile, subscriptions, context: SyncContext) -> str:
    statuses = {
        sub.status
        for campaign_id, sub in subscriptions.get(profile.pk, {}).items()
        if campaign_id in context.synced_campaign_ids
    }
    if Subscription.Status.ACTIVE in statuses:
        return "active"
    if Subscription.Status.PENDING in statuses:
        return "pending"
    if Subscription.Status.OPTED_OUT in statuses:
        return "opted_out"
    return "never"


def _existing(profile: Profile | None, subscriptions, context) -> Existing | None:
    if profile is None:
        return None
    return Existing(
        profile_id=profile.pk,
        constituent_id=profile.constituent_id,
        phone=profile.phone_number,
        fields={name: getattr(profile, name) for name in PROFILE_FIELDS},
        opted_out_globally=profile.is_globally_opted_out,
        synced_status=_synced_status(profile, subscriptions, context),
        updated_at=profile.updated_at,
    )


def _snapshot(snapshot: LinkSnapshot | None) -> Snapshot | None:
    if snapshot is None:
        return None
    return Snapshot(snapshot.fields, snapshot.opted_in, snapshot.phone or None, snapshot.modified_at)


def _path_for(context: SyncContext, reader: _Reader, cons_id: str):
    if not context.group_routes:
        return context.default_path
    return context.path_for_groups(reader.groups(cons_id))


def _apply_decisions(
    context, run, outcomes: list[_Outcome], profiles: dict[int, Profile], subscriptions
) -> None:
    organization = context.organization
    now = timezone.now()
    detail = f"Luminate sync run {run.pk}"
    decided = [outcome for outcome in outcomes if outcome.decision is not None and outcome.decision.writes]

    unlink = [profiles[o.decision.unlink_profile_id] for o in decided if o.decision.unlink_profile_id]
    # Bulk updates leave auto_now fields as they are: the API's "updated since" must see these changes.
    for profile in unlink:
        profile.constituent_id = None
        profile.updated_at = now
    bulk.update(unlink, ["constituent_id", "updated_at"])

    new_profiles = []
    for outcome in decided:
        decision = outcome.decision
        record = outcome.item.incoming
        if decision.create:
            profile = bulk.new(
                Profile,
                organization=organization,
                phone_number=record.phone,
                source=Channel.LUMINATE,
                source_detail=detail,
                constituent_id=record.cons_id,
                luminate_synced_at=now,
                **{name: new for name, (_old, new) in decision.field_changes.items()},
            )
            new_profiles.append(profile)
            outcome.profile = profile
    bulk.create(new_profiles)
    for profile in new_profiles:
        subscriptions[profile.pk] = {}

    changed_fields: set[str] = set()
    updated = []
    for outcome in decided:
        decision = outcome.decision
        if decision.create or decision.profile_id is None:
            continue
        profile = profiles[decision.profile_id]
        for name, (_old, new) in decision.field_changes.items():
            setattr(profile, name, new)
            changed_fields.add(name)
        if decision.link:
            profile.constituent_id = outcome.item.cons_id
        if decision.field_changes or decision.link:
            profile.updated_at = now
        profile.luminate_synced_at = now
        updated.append(profile)
    bulk.update(updated, sorted(changed_fields | {"constituent_id", "luminate_synced_at", "updated_at"}))

    paths = context.paths_by_id
    fresh: list[_Outcome] = []
    for outcome in decided:
        decision = outcome.decision
        if decision.withdraw_profile_id:
            _withdraw(context, profiles[decision.withdraw_profile_id], subscriptions, detail)
        if decision.subscribe_path is None:
            continue
        if decision.create:
            fresh.append(outcome)
            continue
        result = subscriber_services.opt_in(
            outcome.profile,
            paths[decision.subscribe_path.path_id],
            channel=Channel.LUMINATE,
            source_detail=detail,
            subscriptions=subscriptions.setdefault(outcome.profile.pk, {}),
        )
        if result.outcome == subscriber_services.Outcome.REFUSED_OPTED_OUT:
            outcome.reason += f" {result.reason}"
    results = subscriber_services.opt_in_new_profiles(
        [(outcome.profile, paths[outcome.decision.subscribe_path.path_id]) for outcome in fresh],
        channel=Channel.LUMINATE,
        source_detail=detail,
        zones={
            outcome.item.incoming.phone: outcome.item.incoming.phone_zone
            for outcome in fresh
            if outcome.item.incoming.phone_zone is not None
        },
        subscriptions=subscriptions,
    )
    for outcome, result in zip(fresh, results, strict=True):
        if result.subscription is not None:
            subscriptions.setdefault(outcome.profile.pk, {})[result.subscription.campaign_id] = (
                result.subscription
            )

    _save_snapshots(context, run.pk, outcomes, now)
    _hold_conflicts(context, detail, outcomes, now)
    for outcome in outcomes:
        for donation in outcome.item.donations:
            _record_donation(organization, outcome, donation)


def _hold_conflicts(context: SyncContext, detail: str, outcomes: list[_Outcome], now) -> None:
    """Policy row 19. A constituent compared afresh has exactly the conflicts this run holds: an open one
    from an earlier run is superseded, whether held again (with today's values) or no longer differing, so
    an Administrator never resolves a stale value."""
    compared = [o.item.cons_id for o in outcomes if o.decision is not None and o.decision.compared_fields]
    still_open = FieldConflict.objects.filter(
        integration=context.integration, resolution=FieldConflict.Resolution.OPEN
    )
    # Most integrations hold few conflicts: one cheap question then spares a query naming the whole chunk.
    if compared and still_open.exists():
        still_open.filter(constituent_id__in=compared).update(
            resolution=FieldConflict.Resolution.SUPERSEDED, resolved_by=detail[:150], resolved_at=now
        )
    FieldConflict.objects.bulk_create(
        [
            FieldConflict(
                integration=context.integration,
                profile=outcome.profile,
                constituent_id=outcome.item.cons_id,
                field=name,
                ours=ours,
                theirs=theirs,
            )
            for outcome in outcomes
            if outcome.decision is not None and outcome.profile is not None
            for name, (ours, theirs) in outcome.decision.held_conflicts.items()
        ]
    )


def _withdraw(context: SyncContext, profile: Profile, subscriptions, detail: str) -> None:
    for campaign_id, sub in list(subscriptions.get(profile.pk, {}).items()):
        # A number under a STOP still has the withdrawal recorded, or a START would restore the campaign.
        stopped = sub.status == Subscription.Status.OPTED_OUT and not profile.is_globally_opted_out
        if campaign_id in context.synced_campaign_ids and not stopped:
            subscriber_services.opt_out(
                profile,
                sub.campaign,
                channel=Channel.LUMINATE,
                source_detail=f"Luminate opt-in withdrawn ({detail})",
                subscriptions=subscriptions[profile.pk],
            )


def _save_snapshots(context: SyncContext, run_id: int, outcomes: list[_Outcome], now) -> None:
    saved = set()
    rows = []
    for outcome in outcomes:
        decision = outcome.decision
        if decision is None or decision.next_snapshot is None:
            continue
        snapshot = decision.next_snapshot
        profile = outcome.profile
        saved.add(outcome.item.cons_id)
        rows.append(
            (
                context.integration.pk,
                outcome.item.cons_id,
                profile.pk if profile is not None and profile.pk else None,
                dict(snapshot.fields),
                snapshot.opted_in,
                snapshot.phone or "",
                snapshot.modified_at,
                now,
                now,
                run_id,
                outcome.phone_before_run,
                None,
            )
        )
    bulk.insert(
        LinkSnapshot, SNAPSHOT_COLUMNS, rows, unique=SNAPSHOT_COLUMNS[:2], update=SNAPSHOT_COLUMNS[2:]
    )
    # A record read but not imported still counts as re-read for the rolling reconciliation.
    seen = [o.item.cons_id for o in outcomes if o.decision is not None and o.item.cons_id not in saved]
    if seen:
        LinkSnapshot.objects.filter(integration=context.integration, constituent_id__in=seen).update(
            reconciled_at=now
        )


def _record_donation(organization, outcome: _Outcome, donation: dict[str, str]) -> None:
    billing = {"street1": donation.get("billing_street1", "")}
    try:
        subscriber_services.record_donation(
            organization,
            transaction_id=donation["transaction_id"],
            form_id=donation.get("form_id", ""),
            level_id=donation.get("level_id", ""),
            donor_email=donation.get("donor_email", ""),
            amount=donation.get("amount") or None,
            billing_address=billing,
            profile=outcome.profile if outcome.profile is not None and outcome.profile.pk else None,
            channel=Channel.LUMINATE,
        )
    except subscriber_services.DonationError as exc:
        outcome.reason += f" Donation not recorded: {exc}"


def _carry_over(integration: Integration, outcomes: list[_Outcome]) -> None:
    retry = [o.item.cons_id for o in outcomes if o.category == Category.UNABLE_TO_UPDATE]
    done = [o.item.cons_id for o in outcomes if o.category != Category.UNABLE_TO_UPDATE]
    pending = PendingConstituent.objects.filter(integration=integration)
    # Most nights nothing is carried over: one cheap question then spares a query naming the whole chunk.
    if pending.exists():
        pending.filter(constituent_id__in=done).delete()
    existing = set(
        PendingConstituent.objects.filter(integration=integration, constituent_id__in=retry).values_list(
            "constituent_id", flat=True
        )
    )
    PendingConstituent.objects.filter(integration=integration, constituent_id__in=existing).update(
        attempts=F("attempts") + 1
    )
    PendingConstituent.objects.bulk_create(
        [
            PendingConstituent(integration=integration, constituent_id=cons_id)
            for cons_id in retry
            if cons_id not in existing
        ]
    )


def _flag_not_found(integration: Integration, outcomes: list[_Outcome]) -> None:
    """Row 3: a link whose constituent Luminate no longer finds is kept, and flagged on its snapshot."""
    gone = [o.item.cons_id for o in outcomes if isinstance(o.item.error, NotFound)]
    if gone:
        LinkSnapshot.objects.filter(
            integration=integration, constituent_id__in=gone, not_found_at__isnull=True
        ).update(not_found_at=timezone.now())


def _report(run: SyncRun, outcomes: list[_Outcome]) -> None:
    now = timezone.now()
    rows = []
    for outcome in outcomes:
        record = outcome.item.incoming
        profile = outcome.profile if outcome.profile is not None and outcome.profile.pk else None
        decision = outcome.decision
        # Each change's (before, after) pair is written as a JSON array.
        changes = decision.field_changes if decision else {}
        fields = record.fields if record is not None else {}
        if record is not None:
            mobile = record.phone or record.phone_raw
        else:
            mobile = profile.phone_number if profile else ""
        rows.append(
            (
                run.pk,
                Direction.INBOUND.value,
                outcome.item.cons_id[:32],
                profile.pk if profile is not None else None,
                decision.unlink_profile_id if decision else None,
                mobile[:40],
                fields.get("first_name", "")[:100],
                fields.get("last_name", "")[:100],
                fields.get("email", "")[:255],
                _STATUS_LABELS.get(profile.status, profile.status)[:40] if profile is not None else "",
                str(outcome.category),
                outcome.reason.strip(),
                outcome.item.source,
                changes,
                now,
            )
        )
    bulk.insert(SyncRecord, REPORT_COLUMNS, rows)


def skip_changed_file(
    integration: Integration, name: str, actor: integration_services.Actor
) -> ProcessedFile:
    """Mark an unprocessed changed-records file as processed without reading it, so that one corrupt file,
    or one whose manifest never comes, never stalls every later night (policy.md); audited with who, when
    and the file's size and checksum (a file still waiting for its manifest was never downloaded: it is
    skipped by name).

    Raises:
        ValueError: no unprocessed file of that name is on the file server.
    """
    source = integration_services.file_source(integration)
    with fetch_changed_files(
        source, integration_services.file_credentials(integration), _ProcessedFiles(integration)
    ) as result:
        found = next((item for item in result.files if item.name == name), None)
        waiting = ", ".join([*(item.name for item in result.files), *result.not_ready]) or "none"
    if found is not None:
        size, sha256 = found.size, found.sha256
        what = f"{name} ({size} bytes, sha256 {sha256[:16]}…)"
    elif name in result.not_ready:
        size, sha256 = 0, ""
        what = f"{name} (still without its manifest, never downloaded)"
    else:
        raise ValueError(
            f"{name!r} is not an unprocessed changed-records file on {result.host} (unprocessed: {waiting})."
        )
    with transaction.atomic():
        skipped = ProcessedFile.objects.create(
            integration=integration, name=name, size=size, sha256=sha256, skipped_by=actor.label[:150]
        )
        integration_services.record_audit(
            integration, actor, AuditEntry.Action.FILE_SKIPPED, f"Skipped {what}: it will not be read."
        )
    return skipped
