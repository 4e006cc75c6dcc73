"""Health is kept per aspect (inbound runs, outbound runs, the nightly file) instead of one state per
integration, and run locks per scope (the integration's lock, the outbound lock) instead of per direction.

An integration's one earlier state becomes its inbound state: outbound runs start from "ok", so at most
one outbound alert is sent again after the upgrade. A lock row left by a run of the earlier version keeps
its meaning: an inbound lease becomes the integration's lock, an outbound lease the outbound lock.
"""

import django.db.models.deletion
from django.db import migrations, models


def scope_of_earlier_locks(apps, schema_editor):
    RunLock = apps.get_model("datasync", "RunLock")
    RunLock.objects.filter(direction="outbound").update(scope="outbound")


class Migration(migrations.Migration):
    dependencies = [
        ("datasync", "0007_snapshot_not_found"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="runlock", name="one_lock_per_direction"),
        migrations.AddField(
            model_name="runlock",
            name="scope",
            field=models.CharField(
                choices=[
                    ("integration", "Runs that write constituent links: inbound, or a full outbound run"),
                    ("outbound", "Outbound runs, one at a time"),
                ],
                default="integration",
                max_length=12,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(scope_of_earlier_locks, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="runlock",
            constraint=models.UniqueConstraint(fields=("integration", "scope"), name="one_lock_per_scope"),
        ),
        migrations.AlterField(
            model_name="integrationhealth",
            name="integration",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="health", to="datasync.integration"
            ),
        ),
        migrations.AddField(
            model_name="integrationhealth",
            name="aspect",
            field=models.CharField(
                choices=[
                    ("inbound", "Luminate → platform runs"),
                    ("outbound", "Platform → Luminate runs"),
                    ("changed_file", "The nightly changed-records file"),
                ],
                default="inbound",
                max_length=12,
            ),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="integrationhealth",
            constraint=models.UniqueConstraint(fields=("integration", "aspect"), name="one_health_per_aspect"),
        ),
    ]
