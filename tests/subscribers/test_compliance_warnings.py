"""Warnings for welcome messages and prompts that do not say how to stop or get help."""

from __future__ import annotations

from lumisync.subscribers.services import compliance_warnings


def test_complete_message_has_no_warning():
    assert compliance_warnings("Welcome! Msg & data rates may apply. Reply HELP for help, STOP to end.") == []


def test_missing_stop_and_help_each_warn():
    warnings = compliance_warnings("Welcome to river alerts!")
    assert len(warnings) == 2
    assert "STOP" in warnings[0]
    assert "HELP" in warnings[1]


def test_words_are_matched_whole_and_in_any_case():
    assert compliance_warnings("Reply stop to end, help for help.") == []
    assert len(compliance_warnings("Non-stop helpful alerts: reply STOP to end.")) == 1


def test_no_message_no_warning():
    assert compliance_warnings("   ") == []
