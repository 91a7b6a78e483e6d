# Generated for the live conference state (written by hand in Django's makemigrations format).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conferences", "0002_conference_title_folded"),
    ]

    operations = [
        migrations.CreateModel(
            name="LiveState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("floor", models.CharField(blank=True, max_length=36)),
                ("broadcast", models.CharField(blank=True, max_length=36)),
                ("muted", models.JSONField(blank=True, default=list)),
                ("hands", models.JSONField(blank=True, default=list)),
                (
                    "media",
                    models.JSONField(
                        blank=True, default=dict, help_text="site code → {video, audio}"
                    ),
                ),
                (
                    "version",
                    models.PositiveBigIntegerField(
                        default=0,
                        help_text="raised on every control change; rooms ignore older commands",
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "conference",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="live_state",
                        to="conferences.conference",
                    ),
                ),
                (
                    "current_item",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="conferences.agendaitem",
                    ),
                ),
            ],
        ),
    ]
