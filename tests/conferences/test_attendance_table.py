"""The clerk's attendance table (issue 9, item 15) over HTTP: every invited site in one form, saved
in one submit; bad rows marked and nothing saved; values kept on error; "present" without a
headcount is a warning; attendance of a conference that has not started is refused."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from conferences.models import AttendanceEntry, AuditEntry, Invitation, Level, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(org):
    """A live province conference inviting the 9 districts and Văn Chấn's communes (30+ sites)."""
    conf = ConferenceFactory(
        status=Status.LIVE,
        actual_start=timezone.now() - dt.timedelta(minutes=20),
        planned_start=timezone.now() - dt.timedelta(minutes=30),
    )
    keys = list(Site.objects.filter(unit__kind="district").values_list("key", flat=True))
    keys += list(Site.objects.filter(unit__parent__code="140").values_list("key", flat=True))
    invite(conf, *keys)
    return conf


def url(conf) -> str:
    return reverse("conference_attendance", args=[conf.code])


def table(conf, **rows) -> dict[str, str]:
    """The whole table as the page posts it: every row, as shown, with ``rows`` changed
    (site key → (status, headcount, reason))."""
    data = {"action": "table"}
    for inv in conf.invitations.select_related("site"):
        status, headcount, reason = rows.get(
            inv.site.key,
            (inv.status, "" if inv.headcount is None else str(inv.headcount), inv.absence_reason),
        )
        data.update({f"st-{inv.pk}": status, f"hc-{inv.pk}": headcount, f"rs-{inv.pk}": reason})
    return data


def inv(conf, key: str) -> Invitation:
    return conf.invitations.get(site__key=key)


def test_the_page_is_one_form_with_a_row_per_site_and_one_save_button(
    client_for, province_clerk, live
):
    html = client_for(province_clerk).get(url(live)).content.decode()
    n = live.invitations.count()
    assert n >= 30
    assert len(re.findall(r'name="st-\d+"', html)) == n
    assert len(re.findall(r'name="hc-\d+"', html)) == n
    assert len(re.findall(r'name="rs-\d+"', html)) == n
    assert html.count('id="save-table"') == 1 and "Lưu điểm danh" in html
    assert "record-site" not in html  # no more one-site-per-submit form


def test_whole_table_saved_in_one_submit_only_changed_rows_recorded(
    client_for, province_clerk, live
):
    client = client_for(province_clerk)
    response = client.post(
        url(live),
        table(
            live,
            **{
                "140": ("present", "25", ""),
                "138": ("present", "18", ""),
                "04630": ("absent_excused", "", "Mất điện"),
                "137": ("absent", "", ""),
            },
        ),
    )
    assert response.status_code == 302
    assert AttendanceEntry.objects.filter(invitation__conference=live).count() == 4
    assert AuditEntry.objects.filter(conference=live, action="attendance.record").count() == 4
    assert (inv(live, "140").status, inv(live, "140").headcount) == ("present", 25)
    assert (inv(live, "04630").status, inv(live, "04630").absence_reason) == (
        "absent_excused",
        "Mất điện",
    )
    page = client.get(response["Location"].split("#")[0])
    said = [str(m) for m in page.context["messages"]]
    assert any("4 điểm cầu được ghi" in m for m in said)
    # posting the same table again records nothing new
    assert client.post(url(live), table(live)).status_code == 302
    assert AttendanceEntry.objects.filter(invitation__conference=live).count() == 4


def test_bad_rows_are_marked_nothing_is_saved_and_every_value_comes_back(
    client_for, province_clerk, live
):
    data = table(
        live,
        **{
            "140": ("present", "25", ""),  # good
            "138": ("present", "mười", ""),  # not a number
            "04630": ("absent_excused", "", ""),  # no reason
            "137": ("absent", "5", ""),  # an absent site with people
        },
    )
    response = client_for(province_clerk).post(url(live), data)
    assert response.status_code == 400
    assert not AttendanceEntry.objects.filter(invitation__conference=live).exists()
    html = response.content.decode()
    assert "3 dòng chưa đúng, chưa lưu dòng nào" in html
    assert html.count('class="bad-row"') == 3
    assert "Số người dự phải là một số nguyên." in html
    assert "Cần ghi lý do vắng." in html and "Điểm cầu vắng không thể có số người dự." in html
    assert 'value="mười"' in html and 'value="25"' in html and 'value="5"' in html
    # the good row's choice is kept too, so fixing the three and saving again loses nothing
    assert re.search(
        rf'name="st-{inv(live, "140").pk}"[^>]*>(<option[^>]*>[^<]*</option>)*?<option value="present" selected',
        html,
    )


def test_present_without_a_headcount_is_saved_with_a_warning(client_for, province_clerk, live):
    client = client_for(province_clerk)
    response = client.post(url(live), table(live, **{"140": ("present", "", "")}), follow=True)
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    name = Site.objects.get(key="140").name
    assert f"1 điểm cầu có mặt nhưng chưa ghi số người dự: {name}." in said
    assert inv(live, "140").status == "present"
    assert 'class="warn-row"' in response.content.decode()


def test_attendance_of_a_conference_that_has_not_started_is_refused(
    client_for, province_clerk, org
):
    conf = ConferenceFactory(status=Status.SCHEDULED, level=Level.PROVINCE_TO_DISTRICT)
    invite(conf, "140", "138")
    client = client_for(province_clerk)
    page = client.get(url(conf)).content.decode()
    assert "Hội nghị chưa bắt đầu" in page
    response = client.post(url(conf), table(conf, **{"140": ("present", "20", "")}))
    assert response.status_code == 400
    assert "Hội nghị chưa bắt đầu" in response.content.decode()
    assert not AttendanceEntry.objects.exists()
    # an excused absence may be announced before the start
    response = client.post(url(conf), table(conf, **{"138": ("absent_excused", "", "Đi công tác")}))
    assert response.status_code == 302
    assert inv(conf, "138").status == "absent_excused"


def test_a_conference_whose_planned_start_has_passed_takes_attendance_without_pressing_start(
    client_for, province_clerk, org
):
    conf = ConferenceFactory(
        status=Status.SCHEDULED,
        planned_start=timezone.now() - dt.timedelta(minutes=5),
        planned_end=timezone.now() + dt.timedelta(hours=1),
    )
    invite(conf, "140")
    response = client_for(province_clerk).post(
        url(conf), table(conf, **{"140": ("present", "9", "")})
    )
    assert response.status_code == 302 and inv(conf, "140").headcount == 9


def test_another_districts_clerk_and_a_leader_cannot_save_the_table(
    client_for, tranyen_clerk, leader, org
):
    conf = ConferenceFactory(
        host_unit=org["140"],
        chair_site=Site.objects.get(key="140"),
        level=Level.DISTRICT_TO_COMMUNE,
        status=Status.LIVE,
        actual_start=timezone.now(),
    )
    invite(conf, "140", "04630")
    data = table(conf, **{"04630": ("absent", "", "")})
    assert client_for(tranyen_clerk).post(url(conf), data).status_code == 404
    assert client_for(leader).post(url(conf), data).status_code == 403
    assert not AttendanceEntry.objects.exists()
    html = client_for(leader).get(url(conf)).content.decode()
    assert 'name="st-' not in html  # leaders read the table, without inputs


def test_the_table_is_filled_and_saved_from_the_keyboard_in_the_browser(
    transactional_db, org, live_server, chromium_path
):
    """Headless Chromium: a typed headcount chooses "present", Enter moves down the column, the
    rest become absent with one button, Ctrl+Enter saves the whole table."""
    from django.conf import settings as django_settings
    from django.test import Client
    from playwright.sync_api import sync_playwright

    from portal import services as org_services
    from tests.conftest import UserFactory

    clerk = UserFactory(username="clerk_table")
    org_services.membership_grant(user=clerk, unit=org["15"], role="clerk")
    conf = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    first, second, *rest = invite(conf, "137", "138", "139", "140", "141")  # table order
    client = Client()
    client.force_login(clerk)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    logs: list[str] = []
    with sync_playwright() as pw:  # runs an event loop: no ORM calls inside
        browser = pw.chromium.launch(
            executable_path=chromium_path, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context()
            context.add_cookies(
                [
                    {
                        "name": django_settings.SESSION_COOKIE_NAME,
                        "value": session,
                        "url": live_server.url,
                    }
                ]
            )
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda m: logs.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
            page.on("dialog", lambda d: d.accept())
            page.goto(f"{live_server.url}{url(conf)}")
            page.wait_for_selector("#attendance-form[data-ready='1']")
            page.click(f"#hc-{first.pk}")
            page.keyboard.type("25")
            assert page.input_value(f"#st-{first.pk}") == "present"
            page.keyboard.press("Enter")  # down the column, without submitting
            assert page.evaluate("document.activeElement.id") == f"hc-{second.pk}"
            page.keyboard.type("18")
            assert "2 " in page.inner_text("#dirty-count")
            page.click("#rest-absent")
            assert page.input_value(f"#st-{rest[0].pk}") == "absent"
            page.focus(f"#rs-{rest[0].pk}")
            with page.expect_navigation():
                page.keyboard.press("Control+Enter")
            assert "5 điểm cầu được ghi" in page.inner_text(".messages")
        except Exception:
            print("\n".join(logs))
            raise
        finally:
            browser.close()
    assert not [line for line in logs if line.startswith("pageerror")]
    statuses = dict(conf.invitations.values_list("site__key", "status"))
    assert statuses == {
        "137": "present",
        "138": "present",
        "140": "absent",
        "139": "absent",
        "141": "absent",
    }
    assert conf.invitations.get(site__key="137").headcount == 25
