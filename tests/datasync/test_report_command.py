"""`lumisync report` prints a run's report as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from lumisync.datasync.engine.inbound import InboundOptions, run_inbound

pytestmark = pytest.mark.django_db


def report(*args) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_the_latest_real_run_is_shown_by_default_and_a_preview_only_by_id(configured):
    real = run_inbound(configured)
    preview = run_inbound(configured, InboundOptions(dry_run=True))

    table = report("--org", configured.organization.slug)
    assert table.startswith(f"Run {real.pk} ")
    assert "preview" not in table.splitlines()[0]
    assert "finished" in table.splitlines()[0]
    assert "(preview: nothing was written)" in report(
        "--org", configured.organization.slug, "--run", str(preview.pk)
    )


def test_csv_and_json_carry_every_row(configured):
    run = run_inbound(configured)
    rows = list(
        csv.reader(
            io.StringIO(report("--org", configured.organization.slug, "--format", "csv").lstrip("\ufeff"))
        )
    )
    assert rows[0][:3] == ["Run", "Direction", "Mobile"]
    assert len(rows) - 1 == run.records.count()
    assert all(row[2] == "" or row[2].startswith("'+") for row in rows[1:]), "mobile numbers stay text"
    data = json.loads(report("--org", configured.organization.slug, "--format", "json"))
    assert len(data) == run.records.count()


def test_unknown_organization_and_missing_integration_are_told_apart(organization):
    with pytest.raises(CommandError, match="no organization 'nosuch'"):
        report("--org", "nosuch")
    with pytest.raises(CommandError, match="has no integration"):
        report("--org", organization.slug)
