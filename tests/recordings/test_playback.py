"""Playback from the outside: who may watch and download (HTTP), range requests, chapters from
the agenda's actual times and floor changes, and seeking in a served file."""

from __future__ import annotations

import datetime as dt
import io
import re

import av
import pytest

from conferences.audit import audit_log
from conferences.live.media_sink import report
from conferences.models import AgendaItem, AuditEntry, Status
from portal.models import Site
from recordings.models import RecordingSegment
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import _persona
from tests.media_worker.recording_helpers import record

pytestmark = pytest.mark.django_db

T0 = 1_780_000_000.0


@pytest.fixture
def recorded(org, settings, tmp_path):
    """An ended conference with two recorded segments (a pause between them), two agenda items
    and a floor change, reported through the media sink as a worker would."""
    settings.MEDIA_ROOT = tmp_path
    start = dt.datetime.fromtimestamp(T0, dt.UTC)
    conf = ConferenceFactory(
        status=Status.LIVE, actual_start=start, planned_start=start - dt.timedelta(minutes=5)
    )
    invite(conf, "140")
    code = str(conf.code)
    folder = tmp_path / "recordings" / code
    first = record(folder, 6.0, 100)
    second = record(folder, 4.0, 100, t0=T0 + 10, first=2)  # after a 4 s pause
    for event in [*first, *second]:
        assert report(code, event)
    AgendaItem.objects.create(
        conference=conf,
        position=1,
        title="Khai mạc",
        actual_start=start + dt.timedelta(seconds=0.5),
        actual_end=start + dt.timedelta(seconds=3),
    )
    AgendaItem.objects.create(
        conference=conf,
        position=2,
        title="Báo cáo của Sở Y tế",
        actual_start=start + dt.timedelta(seconds=12),
    )
    entry = audit_log(
        conference=conf,
        action="live.floor.give",
        site=Site.objects.get(key="140"),
    )
    AuditEntry.objects.filter(pk=entry.pk).update(at=start + dt.timedelta(seconds=4))
    conf.status = Status.ENDED
    conf.actual_end = start + dt.timedelta(seconds=15)
    conf.save()
    return conf


def _url(conf, index: int = 1, **query) -> str:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/recordings/{conf.code}/segments/{index}/" + (f"?{qs}" if qs else "")


def test_leaders_of_the_host_subtree_and_managers_watch_others_get_404(
    recorded, client, client_for, leader, province_clerk, vanchan_operator, org
):
    other_leader = _persona("leader_vanchan", "leader", "140", org)
    assert client.get(_url(recorded)).status_code == 404  # anonymous
    for user in (other_leader, vanchan_operator):
        c = client_for(user)
        assert c.get(_url(recorded)).status_code == 404, user.username
        page = c.get(f"/history/conferences/{recorded.code}/")
        assert b"recording-video" not in page.content
        c.logout()
    for user in (leader, province_clerk):
        c = client_for(user)
        response = c.get(_url(recorded))
        assert response.status_code == 200, user.username
        assert response["Content-Type"] == "video/webm"
        assert response["Accept-Ranges"] == "bytes"
        body = b"".join(response.streaming_content)
        with av.open(io.BytesIO(body)) as container:
            assert container.streams.video[0].codec_context.name == "vp8"
        c.logout()
    assert client.get(_url(recorded, 99)).status_code == 404


def test_range_requests_give_206_with_the_asked_bytes(recorded, client_for, leader, settings):
    seg = RecordingSegment.objects.get(recording__conference=recorded, index=1)
    data = (settings.MEDIA_ROOT / seg.file).read_bytes()
    c = client_for(leader)
    response = c.get(_url(recorded), HTTP_RANGE="bytes=100-1099")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert response["Content-Length"] == "1000"
    assert b"".join(response.streaming_content) == data[100:1100]
    tail = c.get(_url(recorded), HTTP_RANGE="bytes=-500")
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == data[-500:]
    open_end = c.get(_url(recorded), HTTP_RANGE=f"bytes={len(data) - 10}-")
    assert b"".join(open_end.streaming_content) == data[-10:]
    bad = c.get(_url(recorded), HTTP_RANGE=f"bytes={len(data)}-")
    assert bad.status_code == 416 and bad["Content-Range"] == f"bytes */{len(data)}"


def test_download_is_for_managers_only_and_audited(recorded, client_for, leader, province_clerk):
    c = client_for(leader)
    assert c.get(_url(recorded, download=1)).status_code == 403
    assert not AuditEntry.objects.filter(action="recording.download").exists()
    c.logout()
    c = client_for(province_clerk)
    response = c.get(_url(recorded, download=1))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    b"".join(response.streaming_content)
    [entry] = AuditEntry.objects.filter(action="recording.download")
    assert entry.actor == province_clerk and entry.data["segment"] == 1
    # a player's later range requests of the same download are not new downloads
    c.get(_url(recorded, download=1), HTTP_RANGE="bytes=1000-")
    assert AuditEntry.objects.filter(action="recording.download").count() == 1
    page = c.get(f"/history/conferences/{recorded.code}/")
    assert b"?download=1" in page.content
    leader_page = client_for(leader).get(f"/history/conferences/{recorded.code}/")
    assert b"?download=1" not in leader_page.content


def test_chapters_follow_the_agenda_times_and_floor_changes(recorded, client_for, leader):
    page = client_for(leader).get(f"/history/conferences/{recorded.code}/").content.decode()
    assert 'data-role="recording-video"' in page
    chapters = re.findall(
        r'data-segment="(\d+)" data-offset="([\d.]+)"><time[^>]*>[^<]*</time> ([^<]+)</button>',
        page,
    )
    titles = [t.strip() for _, _, t in chapters]
    assert titles == [
        "1. Khai mạc",
        "Phát biểu: " + Site.objects.get(key="140").name,
        "2. Báo cáo của Sở Y tế",
    ]
    where = [(int(s), float(o)) for s, o, _ in chapters]
    first_start = RecordingSegment.objects.get(recording__conference=recorded, index=1).started_at
    second_start = RecordingSegment.objects.get(recording__conference=recorded, index=2).started_at
    start = dt.datetime.fromtimestamp(T0, dt.UTC)
    assert where[0] == (
        0,
        pytest.approx((start + dt.timedelta(seconds=0.5) - first_start).total_seconds(), abs=0.1),
    )
    assert where[1] == (
        0,
        pytest.approx((start + dt.timedelta(seconds=4) - first_start).total_seconds(), abs=0.1),
    )
    assert where[2] == (
        1,
        pytest.approx((start + dt.timedelta(seconds=12) - second_start).total_seconds(), abs=0.1),
    )


def test_a_served_file_seeks_to_a_chapter(recorded, client_for, leader, settings):
    """The file has cues: seeking to 4 s lands on a key frame at or before it, quickly."""
    seg = RecordingSegment.objects.get(recording__conference=recorded, index=1)
    body = b"".join(client_for(leader).get(_url(recorded)).streaming_content)
    with av.open(io.BytesIO(body)) as container:
        stream = container.streams.video[0]
        container.seek(4_000_000, backward=True)  # microseconds (AV_TIME_BASE)
        frame = next(container.decode(stream))
        at = float(frame.pts * stream.time_base)
        assert 2.5 <= at <= 4.05, at
    assert seg.keyframes_ms and seg.keyframes_ms[0] <= 50


def test_the_clerk_chooses_recording_on_the_detail_page_others_cannot(
    org, client_for, province_clerk, leader, vanchan_operator, outsider
):
    conf = ConferenceFactory(confidential=True)
    invite(conf, "140")
    url = f"/recordings/{conf.code}/mode/"
    page = client_for(province_clerk).get(f"/conferences/{conf.code}/").content.decode()
    assert f'action="{url}"' in page and "không được ghi hình" in page
    response = client_for(province_clerk).post(
        url, {"mode": "on", "next": f"/conferences/{conf.code}/"}
    )
    assert response.status_code == 302 and response["Location"] == f"/conferences/{conf.code}/"
    assert conf.recording.mode == "on"
    assert AuditEntry.objects.filter(conference=conf, action="recording.mode").count() == 1
    bad = client_for(province_clerk).post(url, {"mode": "maybe"})
    assert bad.status_code == 400 and "không hợp lệ" in bad.content.decode()
    assert client_for(leader).post(url, {"mode": "off"}).status_code == 403
    assert client_for(vanchan_operator).post(url, {"mode": "off"}).status_code == 403  # invited
    assert client_for(outsider).post(url, {"mode": "off"}).status_code == 404
    conf.recording.refresh_from_db()
    assert conf.recording.mode == "on"
    leader_page = client_for(leader).get(f"/conferences/{conf.code}/").content.decode()
    assert f'action="{url}"' not in leader_page and "được ghi hình" in leader_page


def test_the_minutes_link_each_recorded_agenda_item_to_its_place_in_the_recording(
    recorded, settings
):
    import docx

    from conferences.services.minutes import minutes_docx

    text = "\n".join(p.text for p in docx.Document(io.BytesIO(minutes_docx(recorded))).paragraphs)
    links = re.findall(r"Ghi hình: (\S+)", text)
    page = f"{settings.SITE_URL}/history/conferences/{recorded.code}/"
    assert links == [f"{page}#rec=0:0", f"{page}#rec=1:2"], links


def test_the_timeline_links_agenda_items_and_floor_changes_to_the_player_for_watchers_only(
    recorded, client_for, leader, org
):
    start = dt.datetime.fromtimestamp(T0, dt.UTC)
    item = AgendaItem.objects.get(conference=recorded, position=2)
    entry = audit_log(conference=recorded, action="live.agenda.goto", data={"item": item.pk})
    AuditEntry.objects.filter(pk=entry.pk).update(at=start + dt.timedelta(seconds=12))
    muted = audit_log(conference=recorded, action="live.mute.set", site=Site.objects.get(key="140"))
    AuditEntry.objects.filter(pk=muted.pk).update(at=start + dt.timedelta(seconds=5))

    def rows(page: str) -> list[tuple[str, str]]:
        timeline = page.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
        return [
            (re.sub(r"<[^>]+>", "", li).split("▶")[0].strip(), "".join(link))
            for li, *link in re.findall(
                r'<li class="[^"]*">(.*?)(?:<a class="small" href="([^"]+)" '
                r'data-role="timeline-recording">.*?</a>)?</li>',
                timeline,
            )
        ]

    watcher = rows(
        client_for(leader).get(f"/history/conferences/{recorded.code}/").content.decode()
    )
    linked = {label: link for label, link in watcher if link}
    site = Site.objects.get(key="140").name
    first = RecordingSegment.objects.get(recording__conference=recorded, index=1).started_at
    second = RecordingSegment.objects.get(recording__conference=recorded, index=2).started_at
    floor_at = round((start + dt.timedelta(seconds=4) - first).total_seconds())
    item_at = round((start + dt.timedelta(seconds=12) - second).total_seconds())
    assert linked == {
        f"{start.astimezone(dt.timezone(dt.timedelta(hours=7))):%H:%M}Trao quyền phát biểu: {site}": (
            f"#rec=0:{floor_at}"
        ),
        f"{start.astimezone(dt.timezone(dt.timedelta(hours=7))):%H:%M}Chuyển nội dung: "
        "2. Báo cáo của Sở Y tế": f"#rec=1:{item_at}",
    }, watcher
    assert any(label.endswith(site) and "Tắt tiếng" in label for label, _ in watcher)  # unlinked

    # A leader of the invited district sees the history page, not the recording: no links.
    invited_leader = _persona("leader_vanchan", "leader", "140", org)
    response = client_for(invited_leader).get(f"/history/conferences/{recorded.code}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Trao quyền phát biểu" in page
    assert "timeline-recording" not in page and "recording-video" not in page
