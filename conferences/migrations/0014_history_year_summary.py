"""The yearly roll-up of the attendance summary, filled from the monthly rows already there
(the same sums the refresh writes), so whole years are read from it right away."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Min, Sum
from django.db.models.functions import TruncYear

COUNTS = (
    "invited",
    "attended",
    "excused",
    "absent",
    "late",
    "headcount",
    "attended_without_headcount",
)


def fill_from_months(apps, schema_editor):
    HistorySummary = apps.get_model("conferences", "HistorySummary")
    HistoryYearSummary = apps.get_model("conferences", "HistoryYearSummary")
    grouped = (
        HistorySummary.objects.annotate(y=TruncYear("month"))
        .values("y", "level", "host_unit_id", "unit_id", "absence_reason")
        .annotate(late_min=Min("late_minutes"), **{f"s_{name}": Sum(name) for name in COUNTS})
        .order_by()
    )
    HistoryYearSummary.objects.bulk_create(
        (
            HistoryYearSummary(
                year=row["y"],
                level=row["level"],
                host_unit_id=row["host_unit_id"],
                unit_id=row["unit_id"],
                absence_reason=row["absence_reason"],
                late_minutes=row["late_min"],
                **{name: row[f"s_{name}"] for name in COUNTS},
            )
            for row in grouped.iterator()
        ),
        batch_size=2000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("conferences", "0013_presenting"),
        ("portal", "0002_unit_path_fits_the_deepest_accepted_tree"),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoryYearSummary",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("year", models.DateField()),
                ("level", models.CharField(max_length=30)),
                ("absence_reason", models.CharField(blank=True, max_length=300)),
                ("invited", models.PositiveIntegerField(default=0)),
                ("attended", models.PositiveIntegerField(default=0)),
                ("excused", models.PositiveIntegerField(default=0)),
                ("absent", models.PositiveIntegerField(default=0)),
                ("late", models.PositiveIntegerField(default=0)),
                ("late_minutes", models.PositiveIntegerField(default=0)),
                ("headcount", models.PositiveBigIntegerField(default=0)),
                ("attended_without_headcount", models.PositiveIntegerField(default=0)),
                (
                    "host_unit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="portal.unit",
                    ),
                ),
                (
                    "unit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="portal.unit",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("year", "level", "host_unit", "unit", "absence_reason"),
                        name="history_year_summary_key",
                    )
                ],
            },
        ),
        migrations.RunPython(fill_from_months, migrations.RunPython.noop),
    ]
