"""The Synchronization report pages, for Administrators of the organization the request acts for.

Every query starts from the organization's integration: another organization's runs, rows, conflicts and
outbound items are simply not found (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lumisync.accounts.decorators import administrator_required
from lumisync.datasync import report
from lumisync.datasync.engine.inbound import skip_changed_file
from lumisync.datasync.engine.locks import RunInProgress
from lumisync.datasync.engine.policy import Category
from lumisync.datasync.forms import TryConstituentForm
from lumisync.datasync.models import Direction, FieldConflict, OutboundItem, SyncRecord, SyncRun
from lumisync.datasync.pages import integration_for, render_page
from lumisync.datasync.services import Actor
from lumisync.luminate.files import ChangedFileError

RUNS_PER_PAGE = 25
RECORDS_PER_PAGE = 50
FAILED_SHOWN = 100
CHART_RUNS = 30

CHANGED = (Category.CREATED, Category.UPDATED)
ERRORS = (Category.UNABLE_TO_UPDATE, Category.VALIDATION_ERROR, Category.PROCESSING_ERROR)
# The chart stacks a run's records in four groups; every category belongs to one.
CHART_GROUPS = (
    ("written", "Created or updated", (*CHANGED, Category.DEFERRED_SUBSCRIPTION)),
    ("unchanged", "Nothing to change", (Category.NO_NEW_CHANGES, Category.NO_DIFFERENCE)),
    (
        "attention",
        "Left out or held",
        (Category.FIELD_CONFLICT, Category.NO_IMPORT, Category.NO_EXPORT, Category.SKIPPED_MEMBERS),
    ),
    ("errors", "Errors", ERRORS),
)
CHART_HEIGHT = 160
CHART_BAR = 18
CHART_GAP = 6


@dataclass(frozen=True)
class Segment:
    y: int
    height: int
    group: str
    label: str


@dataclass(frozen=True)
class Bar:
    run: SyncRun
    x: int
    segments: list[Segment]
    title: str
    current: bool


def _chart(runs: list[SyncRun], current: SyncRun | None) -> dict:
    """Geometry of an inline SVG: one stacked bar per run, oldest on the left, scaled to the largest."""
    runs = list(reversed(runs))
    tallest = max([sum(run.counts.values()) for run in runs] + [1])
    bars = []
    for index, run in enumerate(runs):
        below = 0
        segments = []
        for group, label, categories in CHART_GROUPS:
            count = sum(run.counts.get(category.value, 0) for category in categories)
            if not count:
                continue
            # Edges from running totals, so rounding never makes a bar taller than its records.
            bottom = CHART_HEIGHT - round(below * CHART_HEIGHT / tallest)
            below += count
            top = min(CHART_HEIGHT - round(below * CHART_HEIGHT / tallest), bottom - 1)
            segments.append(Segment(top, bottom - top, group, f"{label}: {count}"))
        counted = ", ".join(f"{category} {count}" for category, count in report.summary(run) if count)
        bars.append(
            Bar(
                run=run,
                x=index * (CHART_BAR + CHART_GAP),
                segments=segments,
                title=f"Run {run.pk}, {run.get_direction_display()}, {run.get_status_display()}: "
                f"{counted or 'no records'}",
                current=current is not None and run.pk == current.pk,
            )
        )
    return {
        "bars": bars,
        "width": max(len(bars), 1) * (CHART_BAR + CHART_GAP),
        "height": CHART_HEIGHT,
        "bar_width": CHART_BAR,
        "groups": [(group, label) for group, label, _categories in CHART_GROUPS],
        "tallest": tallest,
    }


def _recent_runs(integration) -> list[SyncRun]:
    return list(integration.runs.filter(dry_run=False).order_by("-started_at", "-id")[:CHART_RUNS])


def _duration(run: SyncRun) -> str:
    if run.duration is None:
        return ""
    seconds = int(run.duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _describe(runs):
    for run in runs:
        run.duration_text = _duration(run)
        run.changed = sum(run.counts.get(category.value, 0) for category in CHANGED)
        run.problems = sum(run.counts.get(category.value, 0) for category in ERRORS)
    return runs


def _back(request, default: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _report_page(request, template: str, integration, **context):
    return render_page(
        request,
        template,
        integration,
        zone=integration.organization.zone,
        retention_days=report.RETENTION.days,
        **context,
    )


@administrator_required
@require_GET
def report_home(request):
    integration = integration_for(request)
    runs = Paginator(integration.runs.order_by("-started_at", "-id"), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    runs.object_list = _describe(list(runs.object_list))
    failed = integration.outbound_items.filter(status=OutboundItem.Status.FAILED).select_related("profile")
    return _report_page(
        request,
        "datasync/report/home.html",
        integration,
        runs=runs,
        chart=_chart(_recent_runs(integration), None),
        failed_items=failed.order_by("-updated_at", "-id")[:FAILED_SHOWN],
        failed_count=failed.count(),
        failed_shown=FAILED_SHOWN,
        try_form=TryConstituentForm(),
        last_inbound=integration.runs.filter(direction=Direction.INBOUND, dry_run=False)
        .order_by("-started_at")
        .first(),
    )


def _run(integration, pk: int) -> SyncRun:
    return get_object_or_404(integration.runs, pk=pk)


def _filtered(request, run: SyncRun):
    category = request.GET.get("category", "")
    query = request.GET.get("q", "").strip()
    records = report.search(
        run.records.order_by("id"),
        category=category,
        query=query,
        region=request.organization.phone_region,
    )
    return records, category, query


@administrator_required
@require_GET
def run_detail(request, pk: int):
    integration = integration_for(request)
    run = _run(integration, pk)
    records, category, query = _filtered(request, run)
    page = Paginator(records.select_related("profile"), RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    conflicts = report.conflicts_of(run, rows)
    failed = {}
    if run.direction == Direction.OUTBOUND:
        for item in integration.outbound_items.filter(
            status=OutboundItem.Status.FAILED,
            profile_id__in=[row.profile_id for row in rows if row.profile_id],
        ):
            failed.setdefault(item.profile_id, []).append(item.pk)
    for row in rows:
        row.held = conflicts.get(row.pk, [])
        row.failed_items = failed.get(row.profile_id, []) if row.profile_id else []
    filters = request.GET.copy()
    filters.pop("page", None)
    _describe([run])
    return _report_page(
        request,
        "datasync/report/run.html",
        integration,
        run=run,
        summary=report.summary(run),
        chart=_chart(_recent_runs(integration), run),
        page=page,
        rows=rows,
        category=category,
        query=query,
        categories=report.CATEGORY_ORDER,
        filters=filters.urlencode(),
        matching=page.paginator.count,
        progress=report.progress(run),
    )


@administrator_required
@require_GET
def run_progress(request, pk: int):
    run = _run(integration_for(request), pk)
    return JsonResponse(report.progress(run))


def _download(request, pk: int, extension: str, content_type: str, chunks):
    run = _run(integration_for(request), pk)
    records, _category, _query = _filtered(request, run)
    body = chunks(records.iterator(chunk_size=2000))
    if extension == "csv":
        # The byte-order mark tells spreadsheets the file is UTF-8, so accented names survive.
        body = _prefixed("\ufeff", body)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="sync-report-run-{run.pk}.{extension}"'
    return response


def _prefixed(first: str, rest):
    yield first
    yield from rest


@administrator_required
@require_GET
def run_csv(request, pk: int):
    return _download(request, pk, "csv", "text/csv; charset=utf-8", report.csv_lines)


@administrator_required
@require_GET
def run_json(request, pk: int):
    return _download(request, pk, "json", "application/json", report.json_chunks)


@administrator_required
@require_GET
def record_detail(request, pk: int):
    integration = integration_for(request)
    record = get_object_or_404(
        SyncRecord.objects.select_related("run", "profile"), run__integration=integration, pk=pk
    )
    history = (
        SyncRecord.objects.filter(run__integration=integration, run__dry_run=False)
        .filter(constituent_id=record.constituent_id)
        .exclude(constituent_id="")
        .select_related("run")
        .order_by("-run__started_at", "-id")[:50]
    )
    return _report_page(
        request,
        "datasync/report/record.html",
        integration,
        record=record,
        run=record.run,
        held=report.conflicts_of(record.run, [record]).get(record.pk, []),
        history=history,
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def conflict_detail(request, pk: int):
    integration = integration_for(request)
    conflict = get_object_or_404(integration.conflicts.select_related("profile"), pk=pk)
    if request.method == "POST":
        choice = request.POST.get("choice")
        if choice not in ("ours", "luminate"):
            messages.error(request, "Choose “Keep ours” or “Take Luminate's”.")
        elif conflict.resolution != FieldConflict.Resolution.OPEN:
            messages.warning(
                request, f"This conflict was already settled: {conflict.get_resolution_display()}."
            )
        else:
            report.resolve_conflict(
                conflict, take_luminate=choice == "luminate", actor=request.user.get_username()
            )
            conflict.refresh_from_db()
            messages.success(
                request,
                f"{conflict.field} of {conflict.profile.phone_number}: {conflict.get_resolution_display()}.",
            )
        return redirect(_back(request, reverse("datasync:report_conflict", args=[conflict.pk])))
    record = report.record_of(conflict)
    return _report_page(
        request,
        "datasync/report/conflict.html",
        integration,
        conflict=conflict,
        record=record,
        current=getattr(conflict.profile, conflict.field, ""),
    )


@administrator_required
@require_POST
def redrive(request):
    integration = integration_for(request)
    failed = integration.outbound_items.filter(status=OutboundItem.Status.FAILED)
    if not request.POST.get("all"):
        failed = failed.filter(pk__in=[value for value in request.POST.getlist("item") if value.isdigit()])
    count = report.redrive(failed)
    if count:
        messages.success(
            request,
            f"{count} failed outbound item{'s' if count != 1 else ''} will be sent again on the next outbound run.",
        )
    else:
        messages.warning(request, "Nothing to re-drive: choose at least one failed item.")
    return redirect(_back(request, reverse("datasync:report")))


@administrator_required
@require_POST
def skip_file(request):
    integration = integration_for(request)
    name = request.POST.get("name", "").strip()
    try:
        skipped = skip_changed_file(integration, name, Actor.of(request.user))
    except (ValueError, ChangedFileError) as exc:
        messages.error(request, f"File not skipped: {exc}")
    else:
        messages.success(request, f"Skipped {skipped.name}: the next inbound run goes on without it.")
    return redirect(reverse("datasync:report"))


@administrator_required
@require_POST
def start_run(request):
    integration = integration_for(request)
    action = request.POST.get("action")
    if action not in ("preview", "inbound", "outbound"):
        return HttpResponseBadRequest("Choose Preview, Run inbound now or Run outbound now.")
    if action != "preview" and not integration.active:
        messages.error(
            request, "Activate the integration before running it. Preview works before activation."
        )
        return redirect("datasync:report")
    direction = Direction.OUTBOUND if action == "outbound" else Direction.INBOUND
    try:
        run = report.start_run(integration, direction, preview=action == "preview")
    except report.RunNotStarted as exc:
        messages.error(request, f"The run did not start: {exc}")
        return redirect("datasync:report")
    if run is None:
        messages.info(request, "The run is starting; it appears in the list in a moment.")
        return redirect("datasync:report")
    what = "Preview" if action == "preview" else f"{run.get_direction_display()} run"
    messages.success(request, f"{what} {run.pk} started.")
    return redirect("datasync:report_run", pk=run.pk)


@administrator_required
@require_POST
def try_constituent(request):
    integration = integration_for(request)
    form = TryConstituentForm(request.POST)
    # Offered on the report and on Test Connection: a refusal goes back to the page it came from.
    back = "datasync:test_connection" if request.POST.get("from") == "test" else "datasync:report"
    if not form.is_valid():
        for error in form.errors["constituent"]:
            messages.error(request, error)
        return redirect(back)
    value = form.cleaned_data["constituent"]
    lookup = {"email": value} if "@" in value else {"constituent_id": value}
    try:
        run = report.try_constituent(integration, **lookup)
    except (report.LookupFailed, RunInProgress) as exc:
        messages.error(request, str(exc))
        return redirect(back)
    record = run.records.first()
    if record is None:
        messages.error(request, f"Nothing to show for {value}: {run.error or 'the dry run returned no row'}.")
        return redirect(back)
    messages.success(
        request, f"Constituent {record.constituent_id} would be: {record.category}. Nothing was written."
    )
    return redirect("datasync:report_record", pk=record.pk)
