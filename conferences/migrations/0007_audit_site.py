"""Audit entries name the site they are about, and every action code is namespaced.

Rows written before keep their meaning: old codes are renamed (``conferences.audit.RENAMED``)
and ``site`` is filled from ``data["site"]`` (a site key, or a site code for the live controls).
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

RENAMED = {
    "presence_join": "presence.join",
    "presence_leave": "presence.leave",
    "roll_call_started": "rollcall.start",
    "roll_call_answer": "rollcall.answer",
    "roll_call_ended": "rollcall.end",
    "attendance_recorded": "attendance.record",
    "attendance_corrected": "attendance.correct",
    "invitation_confirmed": "invitation.confirm",
    "site_ready": "invitation.ready",
    "minutes_conclusions": "minutes.conclusions",
}


def forwards(apps, schema_editor):
    AuditEntry = apps.get_model("conferences", "AuditEntry")
    Site = apps.get_model("portal", "Site")
    for old, new in RENAMED.items():
        AuditEntry.objects.filter(action=old).update(action=new)
    # "unmute all" and "unmute a site" were written under the muting codes with muted=false.
    AuditEntry.objects.filter(action="live.mute.all", data__muted=False).update(
        action="live.unmute.all"
    )
    AuditEntry.objects.filter(action="live.mute.set", data__muted=False).update(
        action="live.mute.clear"
    )
    by_key = dict(Site.objects.values_list("key", "pk"))
    by_code = {str(c): pk for c, pk in Site.objects.values_list("code", "pk")}
    for entry in AuditEntry.objects.filter(data__has_key="site").only("pk", "data").iterator():
        ref = entry.data.get("site")
        if not isinstance(ref, str):
            continue
        try:
            pk = by_code.get(str(uuid.UUID(ref)))
        except ValueError:
            pk = by_key.get(ref)
        if pk is not None:
            AuditEntry.objects.filter(pk=entry.pk).update(site_id=pk)


def backwards(apps, schema_editor):
    AuditEntry = apps.get_model("conferences", "AuditEntry")
    for old, new in RENAMED.items():
        AuditEntry.objects.filter(action=new).update(action=old)
    AuditEntry.objects.filter(action="live.unmute.all").update(action="live.mute.all")
    AuditEntry.objects.filter(action="live.mute.clear").update(action="live.mute.set")


class Migration(migrations.Migration):
    dependencies = [
        ("conferences", "0006_personal_join_link"),
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="site",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="portal.site",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
