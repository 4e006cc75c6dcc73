"""The sending window: when a queued text may go, in the recipient's local time."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine

from lumisync.messaging.models import Message
from lumisync.messaging.services import queue_message, send_due_messages
from lumisync.messaging.window import next_send_time, recipient_zone

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")
LONDON = zoneinfo.ZoneInfo("Europe/London")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def queued_at(moment: dt.datetime, profile, **kwargs) -> Message:
    with time_machine.travel(moment, tick=False):
        return queue_message(
            profile, "Welcome to River alerts!", kind=kwargs.pop("kind", "welcome"), **kwargs
        )


@pytest.mark.django_db
class TestQueueMessage:
    def test_late_evening_waits_for_nine_next_morning(self, profile):
        # 23:00 EDT on 10 June is 03:00 UTC on 11 June; 09:00 EDT that day is 13:00 UTC.
        message = queued_at(utc(2026, 6, 11, 3, 0), profile)
        assert message.status == Message.Status.QUEUED
        assert message.not_before == utc(2026, 6, 11, 13, 0)
        assert message.not_before.astimezone(NEW_YORK).time() == dt.time(9, 0)

    def test_inside_the_window_goes_now(self, profile):
        moment = utc(2026, 6, 11, 18, 30)  # 14:30 in New York
        assert queued_at(moment, profile).not_before == moment

    def test_early_morning_waits_for_the_same_day(self, profile):
        message = queued_at(utc(2026, 6, 11, 10, 0), profile)  # 06:00 in New York
        assert message.not_before == utc(2026, 6, 11, 13, 0)

    def test_window_end_is_exclusive(self, profile):
        message = queued_at(utc(2026, 6, 12, 0, 0), profile)  # 20:00 in New York
        assert message.not_before == utc(2026, 6, 12, 13, 0)

    def test_recipient_zone_comes_from_the_number(self, organization, make_profile):
        # 10:00 in New York (the organization's zone) is 07:00 in San Francisco.
        moment = utc(2026, 6, 11, 14, 0)
        san_francisco = make_profile("+14155550143")
        new_york = make_profile("+12125550199")
        assert organization.time_zone == "America/New_York"
        assert queued_at(moment, new_york).not_before == moment
        waiting = queued_at(moment, san_francisco)
        assert waiting.not_before == utc(2026, 6, 11, 16, 0)
        assert waiting.not_before.astimezone(LOS_ANGELES).time() == dt.time(9, 0)

    def test_number_spanning_zones_uses_the_organization_zone(self, make_organization, make_profile):
        organization = make_organization("Reef Watch", time_zone="Europe/London")
        # An Australian mobile number could be anywhere from Perth to Sydney.
        profile = make_profile("+61412345678", organization=organization)
        message = queued_at(utc(2026, 1, 15, 23, 0), profile)  # 23:00 in London, 10:00 in Sydney
        assert message.not_before == utc(2026, 1, 16, 9, 0)

    def test_organization_window_is_used(self, make_organization, make_profile):
        organization = make_organization(
            "Quiet Org", sending_window_start=dt.time(11, 0), sending_window_end=dt.time(17, 0)
        )
        profile = make_profile("+12125550111", organization=organization)
        message = queued_at(utc(2026, 6, 11, 14, 0), profile)  # 10:00 in New York
        assert message.not_before == utc(2026, 6, 11, 15, 0)

    def test_spring_forward_night_waits_until_nine_daylight_time(self, profile):
        # 23:00 EST on 13 March 2027; clocks go forward at 02:00 on the 14th, so 09:00 EDT is 13:00 UTC,
        # ten hours of UTC later would be 10:00 local.
        message = queued_at(utc(2027, 3, 14, 4, 0), profile)
        assert message.not_before == utc(2027, 3, 14, 13, 0)
        assert message.not_before.astimezone(NEW_YORK).time() == dt.time(9, 0)

    def test_fall_back_night_does_not_text_before_nine_standard_time(self, profile):
        # 23:00 EDT on 6 November 2027; clocks go back at 02:00 on the 7th, so 09:00 EST is 14:00 UTC,
        # ten hours of UTC later would be 08:00 local, before the window.
        message = queued_at(utc(2027, 11, 7, 3, 0), profile)
        assert message.not_before == utc(2027, 11, 7, 14, 0)
        assert message.not_before.astimezone(NEW_YORK).time() == dt.time(9, 0)

    def test_reply_goes_at_once_even_at_night(self, profile):
        moment = utc(2026, 6, 11, 3, 0)  # 23:00 in New York
        message = queued_at(moment, profile, kind="reply", reply=True)
        assert message.not_before == moment
        assert message.is_reply

    def test_unknown_kind_is_refused_with_the_value(self, profile):
        with pytest.raises(ValueError, match=r"kind 'promo' is not one of welcome, confirmation"):
            queue_message(profile, "Hello", kind="promo")
        assert not Message.objects.exists()

    def test_empty_and_overlong_bodies_are_refused(self, profile):
        with pytest.raises(ValueError, match=rf"profile {profile.pk} \(welcome\): the body is empty"):
            queue_message(profile, "  ", kind="welcome")
        with pytest.raises(ValueError, match=r"1601 characters, over the limit of 1600"):
            queue_message(profile, "x" * 1601, kind="broadcast")

    def test_subscription_of_another_profile_is_refused(self, profile, make_profile, make_subscription):
        other = make_subscription(make_profile("+12125550177"))
        with pytest.raises(
            ValueError, match=rf"subscription {other.pk} belongs to profile {other.profile_id}"
        ):
            queue_message(profile, "Welcome", kind="welcome", subscription=other)


@pytest.mark.django_db
class TestWindowAtSending:
    """Whenever a message was queued, the sender texts nobody outside the window at the moment it sends."""

    @pytest.mark.parametrize(
        ("number", "zone"),
        [("+12125550143", NEW_YORK), ("+14155550143", LOS_ANGELES)],
    )
    def test_message_queued_in_the_evening_and_sent_at_night_waits_for_the_morning(
        self, twilio, fake_provider, make_profile, number, zone
    ):
        profile = make_profile(number)
        evening = dt.datetime(2026, 6, 10, 19, 59, tzinfo=zone)
        message = queued_at(evening, profile)
        assert message.not_before == evening

        # The sender was down, or busy with a backlog, until 23:30 local.
        with time_machine.travel(dt.datetime(2026, 6, 10, 23, 30, tzinfo=zone), tick=False):
            summary = send_due_messages()

        morning = dt.datetime(2026, 6, 11, 9, 0, tzinfo=zone)
        message.refresh_from_db()
        assert (summary.deferred, summary.sent) == (1, 0)
        assert (message.status, message.not_before, message.attempts) == (Message.Status.QUEUED, morning, 0)
        assert fake_provider.received == []

        with time_machine.travel(morning, tick=False):
            assert send_due_messages().sent == 1
        message.refresh_from_db()
        assert (message.status, message.attempts) == (Message.Status.SENT, 1)
        assert len(fake_provider.received) == 1

    def test_the_clock_a_caller_passes_is_the_moment_of_sending(self, profile):
        message = queued_at(utc(2026, 6, 10, 23, 59), profile)  # 19:59 in New York
        summary = send_due_messages(now=utc(2026, 6, 11, 3, 30))  # 23:30 in New York
        message.refresh_from_db()
        assert summary.deferred == 1
        assert (message.status, message.not_before) == (Message.Status.QUEUED, utc(2026, 6, 11, 13, 0))

    def test_claim_of_a_crashed_sender_released_at_night_is_not_sent(self, profile):
        message = queued_at(utc(2026, 6, 10, 23, 0), profile)  # 19:00 in New York
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SENDING, claimed_at=utc(2026, 6, 10, 23, 1), attempts=1
        )
        with time_machine.travel(utc(2026, 6, 11, 4, 0), tick=False):  # midnight in New York
            summary = send_due_messages()
        message.refresh_from_db()
        assert (summary.released, summary.deferred, summary.sent) == (1, 1, 0)
        assert (message.status, message.not_before) == (Message.Status.QUEUED, utc(2026, 6, 11, 13, 0))
        assert message.attempts == 1, "the crashed sender's attempt still counts, the deferral does not"

    def test_window_narrowed_after_queueing_is_kept(self, organization, profile):
        message = queued_at(utc(2026, 6, 11, 14, 0), profile)  # 10:00 in New York
        organization.sending_window_start = dt.time(11, 0)
        organization.save()
        with time_machine.travel(utc(2026, 6, 11, 14, 30), tick=False):
            assert send_due_messages().deferred == 1
        message.refresh_from_db()
        assert message.not_before == utc(2026, 6, 11, 15, 0)

    def test_reply_still_goes_at_night(self, profile):
        message = queued_at(utc(2026, 6, 11, 3, 0), profile, kind="reply", reply=True)
        with time_machine.travel(utc(2026, 6, 11, 4, 0), tick=False):
            assert send_due_messages().sent == 1
        message.refresh_from_db()
        assert message.status == Message.Status.SENT

    def test_pass_summary_names_the_messages_put_back(self, profile):
        queued_at(utc(2026, 6, 10, 23, 59), profile)
        summary = send_due_messages(now=utc(2026, 6, 11, 3, 30))
        assert (
            str(summary) == "0 sent, 0 failed, 0 cancelled, 0 to retry, 1 put back until the sending window"
        )


class TestNextSendTime:
    def test_window_past_midnight(self):
        start, end = dt.time(20, 0), dt.time(2, 0)
        late = dt.datetime(2026, 6, 11, 23, 0, tzinfo=LONDON)
        assert next_send_time(late, LONDON, start, end) == late
        small_hours = dt.datetime(2026, 6, 12, 1, 59, tzinfo=LONDON)
        assert next_send_time(small_hours, LONDON, start, end) == small_hours
        afternoon = dt.datetime(2026, 6, 12, 15, 0, tzinfo=LONDON)
        assert next_send_time(afternoon, LONDON, start, end) == dt.datetime(2026, 6, 12, 20, 0, tzinfo=LONDON)

    def test_window_start_inside_the_spring_forward_gap(self):
        # 02:30 does not exist on 14 March 2027 in New York: the clocks jump an hour, so does the start.
        night = dt.datetime(2027, 3, 14, 1, 0, tzinfo=NEW_YORK)
        sent = next_send_time(night, NEW_YORK, dt.time(2, 30), dt.time(20, 0))
        assert sent == utc(2027, 3, 14, 7, 30)
        assert sent.astimezone(NEW_YORK).time() == dt.time(3, 30)

    def test_naive_time_is_refused(self):
        with pytest.raises(ValueError, match="naive"):
            next_send_time(dt.datetime(2026, 6, 11, 12, 0), NEW_YORK, dt.time(9), dt.time(20))


class TestRecipientZone:
    @pytest.mark.parametrize(
        ("number", "zone"),
        [
            ("+14155550143", "America/Los_Angeles"),
            ("+13125550143", "America/Chicago"),
            ("+18005550143", "Europe/London"),  # toll-free: every North American zone
            ("+15555550143", "Europe/London"),  # no known zone
            ("not a number", "Europe/London"),
        ],
    )
    def test_single_zone_or_fallback(self, number, zone):
        assert recipient_zone(number, LONDON) == zoneinfo.ZoneInfo(zone)
