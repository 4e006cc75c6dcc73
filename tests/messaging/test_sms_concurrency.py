"""Two senders at once on PostgreSQL: rows one holds are skipped by the other, and nothing goes twice.

SQLite has no row locks: there the IMMEDIATE transaction of the claim serialises the senders instead.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from lumisync.messaging.models import Message
from lumisync.messaging.services import queue_message, send_due_messages

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks need PostgreSQL (set DATABASE_URL)"
    ),
]


def due_messages(make_profile, count: int) -> list[Message]:
    return [
        queue_message(make_profile(f"+121255501{n:02d}"), "Hello", kind="broadcast", reply=True)
        for n in range(count)
    ]


def in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_rows_locked_by_another_sender_are_skipped(make_profile):
    held = due_messages(make_profile, 3)[:2]
    locked, release = threading.Event(), threading.Event()

    def hold_rows():
        with transaction.atomic():
            list(Message.objects.filter(pk__in=[m.pk for m in held]).select_for_update())
            locked.set()
            release.wait(30)

    holder = in_thread(hold_rows)
    assert locked.wait(30)
    try:
        summary = send_due_messages()
    finally:
        release.set()
        holder.join()
    free = Message.objects.exclude(pk__in=[m.pk for m in held]).get()
    assert summary.sent == 1
    assert free.status == Message.Status.SENT
    assert set(Message.objects.filter(pk__in=[m.pk for m in held]).values_list("status", flat=True)) == {
        "queued"
    }


def test_two_senders_send_each_message_once(make_profile):
    due_messages(make_profile, 40)
    summaries = []
    start = threading.Barrier(2)

    def sender():
        start.wait(30)
        while (summary := send_due_messages(limit=5)).claimed:
            summaries.append(summary)

    threads = [in_thread(sender) for _ in range(2)]
    for thread in threads:
        thread.join()
    assert sum(summary.sent for summary in summaries) == 40
    assert set(Message.objects.values_list("status", "attempts")) == {("sent", 1)}
