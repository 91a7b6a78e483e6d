"""Unique keys over the history summaries' dimensions, and the dirty-month marks.

Summaries written by the old save hooks may hold a month twice (concurrent corrections): they
are dropped, and every month they covered is marked dirty, so the dashboard reads those months
from the invitations until the refresh (Celery beat, ``manage.py history_summary``, or
``seed_demo``) recomputes them.
"""

import django.utils.timezone
from django.db import migrations, models


def drop_and_mark_dirty(apps, schema_editor):
    HistorySummary = apps.get_model("conferences", "HistorySummary")
    HistoryConferenceSummary = apps.get_model("conferences", "HistoryConferenceSummary")
    HistoryDirtyMonth = apps.get_model("conferences", "HistoryDirtyMonth")
    months = set(HistorySummary.objects.values_list("month", flat=True).distinct())
    months |= set(HistoryConferenceSummary.objects.values_list("month", flat=True).distinct())
    HistorySummary.objects.all().delete()
    HistoryConferenceSummary.objects.all().delete()
    HistoryDirtyMonth.objects.bulk_create(
        [HistoryDirtyMonth(month=m) for m in sorted(months)], ignore_conflicts=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("conferences", "0007_audit_site"),
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoryDirtyMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(unique=True)),
                ("marked_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["month"],
            },
        ),
        migrations.RunPython(drop_and_mark_dirty, migrations.RunPython.noop),
        migrations.RemoveIndex(
            model_name="historysummary",
            name="history_summary_month",
        ),
        migrations.AddConstraint(
            model_name="historyconferencesummary",
            constraint=models.UniqueConstraint(
                condition=models.Q(("topic__isnull", True)),
                fields=("month", "level", "host_unit"),
                name="history_conf_summary_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="historyconferencesummary",
            constraint=models.UniqueConstraint(
                condition=models.Q(("topic__isnull", False)),
                fields=("month", "level", "host_unit", "topic"),
                name="history_conf_summary_topic_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="historysummary",
            constraint=models.UniqueConstraint(
                fields=("month", "level", "host_unit", "unit", "absence_reason"),
                name="history_summary_key",
            ),
        ),
    ]
