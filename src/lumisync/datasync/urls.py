from django.urls import path
from django.views.generic import RedirectView

from lumisync.datasync import views, views_report

app_name = "datasync"

urlpatterns = [
    path("", views.home, name="home"),
    path("configure/", views.configure, name="configure"),
    path("mappings/", views.field_mappings, name="field_mappings"),
    path("group-paths/", views.group_paths, name="group_paths"),
    path("test/", views.test_connection, name="test_connection"),
    path("activate/", views.activate, name="activate"),
    path("deactivate/", views.deactivate, name="deactivate"),
    path("audit/", views.audit_log, name="audit_log"),
    # The snippet generator lives with the web opt-in endpoint it posts to.
    path(
        "donation-snippet/",
        RedirectView.as_view(pattern_name="mcapi:donation_forms"),
        name="donation_snippet",
    ),
    path("report/", views_report.report_home, name="report"),
    path("report/runs/<int:pk>/", views_report.run_detail, name="report_run"),
    path("report/runs/<int:pk>/progress.json", views_report.run_progress, name="report_run_progress"),
    path("report/runs/<int:pk>/report.csv", views_report.run_csv, name="report_run_csv"),
    path("report/runs/<int:pk>/report.json", views_report.run_json, name="report_run_json"),
    path("report/records/<int:pk>/", views_report.record_detail, name="report_record"),
    path("report/conflicts/<int:pk>/", views_report.conflict_detail, name="report_conflict"),
    path("report/redrive/", views_report.redrive, name="report_redrive"),
    path("report/run-now/", views_report.start_run, name="report_start"),
    path("report/try/", views_report.try_constituent, name="report_try"),
    path("report/skip-file/", views_report.skip_file, name="report_skip_file"),
]
