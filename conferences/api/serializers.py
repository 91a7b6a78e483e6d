"""Serializers of the read API: public ids are UUID codes and unit codes, never primary keys."""

from __future__ import annotations

from rest_framework import serializers

from conferences.models import Conference, Invitation


class UnitRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class ConferenceSerializer(serializers.ModelSerializer):
    host_unit = UnitRefSerializer(read_only=True)
    topics = serializers.SerializerMethodField()
    sites_invited = serializers.IntegerField(read_only=True)
    sites_attended = serializers.IntegerField(read_only=True)

    class Meta:
        model = Conference
        fields = [
            "code",
            "title",
            "level",
            "status",
            "host_unit",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "topics",
            "sites_invited",
            "sites_attended",
        ]

    def get_topics(self, obj) -> list[str]:
        return list(getattr(obj, "topic_names", []))


class ConferencePageSerializer(serializers.Serializer):
    """One page of the conference list: the total, the page asked for and its rows."""

    count = serializers.IntegerField(min_value=0)
    page = serializers.IntegerField(min_value=1)
    page_size = serializers.IntegerField(min_value=1)
    results = ConferenceSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    """401/403/404: ``{"detail": "…"}``."""

    detail = serializers.CharField()


class AttendanceSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.key")
    site_name = serializers.CharField(source="site.name")
    unit = UnitRefSerializer(read_only=True)
    late = serializers.BooleanField(read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "site",
            "site_name",
            "unit",
            "status",
            "headcount",
            "absence_reason",
            "first_joined_at",
            "late",
        ]


class CountRowSerializer(serializers.Serializer):
    label = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    count = serializers.IntegerField()


class UnitAttendanceSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    invited = serializers.IntegerField()
    attended = serializers.IntegerField()
    excused = serializers.IntegerField()
    absent = serializers.IntegerField()
    late = serializers.IntegerField()
    rate = serializers.FloatField()


class DashboardSerializer(serializers.Serializer):
    conferences = serializers.IntegerField()
    total_minutes = serializers.IntegerField()
    average_minutes = serializers.IntegerField()
    invited = serializers.IntegerField()
    attended = serializers.IntegerField()
    excused = serializers.IntegerField()
    absent = serializers.IntegerField()
    late = serializers.IntegerField()
    late_minutes = serializers.IntegerField()
    headcount = serializers.IntegerField()
    attendance_rate = serializers.FloatField()
    punctuality_rate = serializers.FloatField()
    sites_per_conference = serializers.FloatField()
    bucket = serializers.CharField()
    by_level = serializers.ListField(child=serializers.DictField())
    by_period = serializers.ListField(child=serializers.DictField())
    by_host = serializers.ListField(child=serializers.DictField())
    by_topic = serializers.ListField(child=serializers.DictField())
    by_unit = UnitAttendanceSerializer(many=True)
    absence_reasons = serializers.ListField(child=serializers.DictField())
    savings = serializers.DictField(child=serializers.IntegerField())
