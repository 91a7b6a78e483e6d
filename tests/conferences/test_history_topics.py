"""One topic per name: matched case- and diacritic-insensitively (đ → d) when typed, duplicates
merged by the data migration, existing topics offered as the clerk types."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from conferences.folding import fold_words
from conferences.forms_topics import TopicsField
from conferences.models import Conference, Level, Topic
from conferences.services.topics import topics_for_names
from portal.models import Site


def test_spellings_of_one_name_are_one_topic_with_a_slug_that_keeps_the_d(org):
    (first,) = topics_for_names(["Chuyển đổi số"])
    assert (first.name, first.slug, first.key) == (
        "Chuyển đổi số",
        "chuyen-doi-so",
        "chuyen doi so",
    )
    for spelling in [
        "chuyen doi so",
        "CHUYỂN ĐỔI SỐ",
        "  Chuyển   đổi số ",
        "Chuyển đổi số.",
        "chuyển-đổi-số",
    ]:
        assert topics_for_names([spelling]) == [first], spelling
    assert Topic.objects.count() == 1
    assert [t.name for t in topics_for_names(["COVID-19", "covid 19", "Covid-19 ", "!!"])] == [
        "COVID-19"
    ]


def test_decomposed_unicode_folds_like_precomposed(org):
    decomposed = (
        "Chuye\u0302\u0309n \u0111o\u0302\u0309i so\u0302\u0301"  # "Chuyển đổi số" typed as NFD
    )
    assert fold_words(decomposed) == "chuyen doi so"
    assert topics_for_names([decomposed]) == topics_for_names(["Chuyển đổi số"])


def test_the_database_folds_names_as_python_does(org):
    names = [
        "Phòng, chống dịch COVID-19",
        "ĐẮK LẮK – Quốc phòng",
        "Ðà Lạt (Ð lạ)",
        "Xây dựng Đảng; hệ thống chính trị",
        "Ơn Ưu ỷ ỹ",
    ]
    for name in names:
        Topic.objects.create(
            name=name, slug=f"t-{len(name)}-{fold_words(name)[:20]}".replace(" ", "-")
        )
    assert {t.name: t.key for t in Topic.objects.all()} == {
        name: fold_words(name) for name in names
    }


def _form(**extra):
    day = timezone.localdate() + dt.timedelta(days=5)
    data = {
        "title": "Hội nghị triển khai chuyển đổi số năm 2027",
        "level": Level.PROVINCE_TO_DISTRICT,
        "host_unit": "15-UBND",
        "chair_site": str(Site.objects.get(key="15-UBND").code),
        "planned_start": f"{day.isoformat()}T08:00",
        "planned_end": f"{day.isoformat()}T11:00",
        "description": "",
        "sel_kind": ["district"],
    }
    data.update(extra)
    return data


def test_clerk_typing_an_existing_topic_without_diacritics_tags_it_instead_of_a_new_one(
    client_for, province_clerk
):
    existing = topics_for_names(["Chuyển đổi số"])[0]
    response = client_for(province_clerk).post(
        reverse("conference_create"), _form(topics="chuyen doi so, CHUYỂN ĐỔI SỐ, Kế hoạch 2027")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    conference = Conference.objects.get()
    assert sorted(t.name for t in conference.topics.all()) == ["Chuyển đổi số", "Kế hoạch 2027"]
    assert Topic.objects.count() == 2 and existing in conference.topics.all()


def test_a_topic_without_letters_or_too_long_is_a_field_error(client_for, province_clerk):
    client = client_for(province_clerk)
    for topics, message in [
        ("COVID-19, ---", "cần có chữ hoặc số"),
        ("x" * 121, "dài quá 120 ký tự"),
    ]:
        response = client.post(reverse("conference_create"), _form(topics=topics))
        assert response.status_code == 400
        assert message in response.content.decode()
    assert not Conference.objects.exists() and not Topic.objects.exists()


def test_topics_field_keeps_each_name_once():
    assert TopicsField().clean("Chuyển đổi số, chuyen doi so,, Y tế ") == ["Chuyển đổi số", "Y tế"]
    assert TopicsField().clean("") == []


def test_the_form_offers_existing_topics_as_you_type(client_for, province_clerk, outsider):
    topics_for_names(
        ["Chuyển đổi số", "Chuyển giao công nghệ", "Phòng, chống dịch COVID-19", "Nông thôn mới"]
    )
    client = client_for(province_clerk)
    page = client.get(reverse("conference_create")).content.decode()
    assert 'data-suggest-url="/topics/suggest/"' in page and "conferences/suggest.js" in page

    data = client.get("/topics/suggest/", {"q": "chuyen"}).json()
    assert {r["value"] for r in data["results"]} == {"Chuyển đổi số", "Chuyển giao công nghệ"}
    assert data["exact"] is None
    data = client.get("/topics/suggest/", {"q": "chuyen doi so"}).json()
    assert data["exact"] == {
        "label": "Chuyển đổi số",
        "value": "Chuyển đổi số",
        "slug": "chuyen-doi-so",
    }
    data = client.get("/topics/suggest/", {"q": "dich phong"}).json()  # words in any order
    assert [r["value"] for r in data["results"]] == ["Phòng, chống dịch COVID-19"]
    assert client.get("/topics/suggest/", {"q": "!!"}).json() == {"results": [], "exact": None}
    assert client.get("/topics/suggest/", {"q": "x" * 5000}).status_code == 200

    client.logout()
    assert client.get("/topics/suggest/", {"q": "chuyen"}).status_code == 302  # to the login page


def test_history_filter_accepts_a_topic_by_slug_or_typed_name(org, leader, client_for):
    topics_for_names(["Chuyển đổi số"])
    client = client_for(leader)
    for value in ("chuyen-doi-so", "Chuyển đổi số", "chuyen doi so"):
        assert client.get("/history/search/", {"topic": value}).status_code == 200, value
    assert client.get("/history/search/", {"topic": "khong co"}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_merges_duplicate_topics(org):
    """ "Chuyển đổi số" existed twice (slugs chuyen-oi-so and chuyen-doi-so): one remains, with
    the conferences of both, each tagged once, and the slug that keeps the d."""
    executor = MigrationExecutor(connection)
    executor.migrate([("conferences", "0008_history_summary_keys")])
    apps = executor.loader.project_state([("conferences", "0008_history_summary_keys")]).apps
    OldTopic = apps.get_model("conferences", "Topic")
    OldConference = apps.get_model("conferences", "Conference")
    Unit = apps.get_model("portal", "Unit")
    HistoryDirtyMonth = apps.get_model("conferences", "HistoryDirtyMonth")
    HistoryConferenceSummary = apps.get_model("conferences", "HistoryConferenceSummary")
    host = Unit.objects.get(code="15-UBND")
    start = dt.datetime(2022, 3, 7, 8, tzinfo=dt.UTC)

    def conference(title):
        return OldConference.objects.create(
            title=title, level="province_to_district", host_unit=host, planned_start=start,
            planned_end=start + dt.timedelta(hours=2), status="ended",
        )  # fmt: skip

    lost_d = OldTopic.objects.create(slug="chuyen-oi-so", name="Chuyển đổi số")
    kept_d = OldTopic.objects.create(slug="chuyen-doi-so", name="chuyển đổi số")
    other = OldTopic.objects.create(slug="y-te", name="Y tế")
    a, b, c = conference("A"), conference("B"), conference("C")
    a.topics.add(lost_d)
    b.topics.add(lost_d, kept_d)  # tagged with both
    c.topics.add(kept_d, other)
    HistoryConferenceSummary.objects.create(
        month=dt.date(2022, 3, 1),
        level="province_to_district",
        host_unit=host,
        topic=kept_d,
        conferences=2,
    )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        (merged,) = Topic.objects.filter(key="chuyen doi so")
        assert merged.pk == lost_d.pk  # the one with most conferences (then the oldest)
        assert merged.slug == "chuyen-doi-so" and merged.name == "Chuyển đổi số"
        assert sorted(merged.conferences.values_list("title", flat=True)) == ["A", "B", "C"]
        assert Conference.topics.through.objects.filter(topic=merged).count() == 3
        assert Topic.objects.count() == 2
        assert HistoryDirtyMonth.objects.filter(month=dt.date(2022, 3, 1)).exists()
        assert not HistoryConferenceSummary.objects.filter(topic_id=kept_d.pk).exists()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
