"""Site picker: selections by kind, subtree, kind-within-unit and single site, resolved on the
conference date; counts before saving; overlapping invitations flagged; forged input refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from conferences.errors import ConferenceError
from conferences.models import Status
from conferences.services import scheduling
from conferences.services.site_selection import SelectionSpec, site_selection_resolve
from portal.models import Site, Unit, UnitKind
from tests.conferences.factories import ConferenceFactory, invite

TODAY = dt.date(2026, 11, 26)


def _keys(sites):
    return {s.key for s in sites}


def test_all_districts_all_agencies_and_communes_of_van_chan(org):
    assert len(site_selection_resolve(spec=SelectionSpec(kinds=["district"]), day=TODAY)) == 9
    assert len(site_selection_resolve(spec=SelectionSpec(kinds=["agency"]), day=TODAY)) == 19
    communes = site_selection_resolve(spec=SelectionSpec(groups=[("commune", "140")]), day=TODAY)
    assert communes and all(
        s.unit.kind == "commune" and s.unit.parent.code == "140" for s in communes
    )
    assert "140" not in _keys(communes)


def test_subtree_includes_the_unit_itself_and_everything_below(org):
    sites = site_selection_resolve(spec=SelectionSpec(subtrees=["140"]), day=TODAY)
    communes = Site.objects.filter(unit__parent__code="140").count()
    assert len(sites) == communes + 1 and "140" in _keys(sites)


def test_overlapping_choices_count_each_site_once(org):
    tu_le = Site.objects.get(key="04630")
    spec = SelectionSpec(
        kinds=["district"], subtrees=["140"], groups=[("commune", "140")], sites=[str(tu_le.code)]
    )
    sites = site_selection_resolve(spec=spec, day=TODAY)
    assert (
        len(sites)
        == len({s.pk for s in sites})
        == 9 + Site.objects.filter(unit__parent__code="140").count()
    )


def test_whole_province_is_210_sites(org):
    assert len(site_selection_resolve(spec=SelectionSpec(subtrees=["15"]), day=TODAY)) == 210


@pytest.mark.parametrize(
    "spec",
    [
        SelectionSpec(kinds=["spaceship"]),
        SelectionSpec(subtrees=["99999"]),
        SelectionSpec(groups=[("commune", "nowhere")]),
        SelectionSpec(groups=[("planet", "140")]),
        SelectionSpec(sites=["00000000-0000-0000-0000-000000000000"]),
        SelectionSpec(sites=["1; DROP TABLE"]),
    ],
)
def test_forged_selection_is_refused_with_the_reason(org, spec):
    with pytest.raises(ConferenceError) as err:
        site_selection_resolve(spec=spec, day=TODAY)
    assert err.value.code == "bad_selection" and err.value.details


def _retired_commune(org) -> Site:
    """A commune that existed only until 2025-06-30 (merged away), with its own site."""
    unit = Unit.objects.get(code="04630")
    unit.valid_to = dt.date(2025, 6, 30)
    unit.save(update_fields=["valid_to"])
    return Site.objects.get(unit=unit)


def test_tree_is_taken_as_valid_on_the_conference_date(org):
    site = _retired_commune(org)
    before = site_selection_resolve(
        spec=SelectionSpec(groups=[("commune", "140")]), day=dt.date(2024, 5, 1)
    )
    after = site_selection_resolve(spec=SelectionSpec(groups=[("commune", "140")]), day=TODAY)
    assert site in before and site not in after
    with pytest.raises(ConferenceError):
        site_selection_resolve(spec=SelectionSpec(sites=[str(site.code)]), day=TODAY)


def test_counts_endpoint_answers_before_saving(client_for, province_clerk):
    response = client_for(province_clerk).get(
        reverse("site_picker_counts"),
        {"sel_kind": ["district", "agency"], "sel_group": "commune@140"},
    )
    assert response.status_code == 200
    data = response.json()
    communes = Site.objects.filter(unit__parent__code="140").count()
    assert data["total"] == 9 + 19 + communes
    assert {k["kind"]: k["count"] for k in data["by_kind"]} == {
        "district": 9,
        "agency": 19,
        "commune": communes,
    }
    assert data["overlaps"] == []


def test_counts_endpoint_flags_sites_in_overlapping_conferences(client_for, province_clerk):
    start = timezone.now() + dt.timedelta(days=3)
    busy = ConferenceFactory(
        title="Giao ban nông thôn mới",
        planned_start=start,
        planned_end=start + dt.timedelta(hours=2),
    )
    invite(busy, "140")
    cancelled = ConferenceFactory(
        planned_start=start, planned_end=start + dt.timedelta(hours=2), status=Status.CANCELLED
    )
    invite(cancelled, "138")
    later = ConferenceFactory(
        planned_start=start + dt.timedelta(hours=3), planned_end=start + dt.timedelta(hours=4)
    )
    invite(later, "137")
    local = timezone.localtime(start + dt.timedelta(hours=1))
    params = {
        "sel_kind": "district",
        "start": local.strftime("%Y-%m-%dT%H:%M"),
        "end": (local + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    c = client_for(province_clerk)
    overlaps = c.get(reverse("site_picker_counts"), params).json()["overlaps"]
    assert [(o["site"], o["conference"]) for o in overlaps] == [
        (Site.objects.get(key="140").name, "Giao ban nông thôn mới")
    ]
    # editing the busy conference itself does not flag its own invitations
    overlaps = c.get(
        reverse("site_picker_counts"), {**params, "conference": str(busy.code)}
    ).json()["overlaps"]
    assert overlaps == []


def test_counts_endpoint_rejects_forged_ids_with_400(client_for, province_clerk):
    response = client_for(province_clerk).get(
        reverse("site_picker_counts"), {"sel_site": "00000000-0000-0000-0000-000000000000"}
    )
    assert response.status_code == 400 and response.json()["code"] == "bad_selection"


def test_counts_endpoint_is_for_clerks_only(client_for, client, leader, vanchan_operator, outsider):
    for user in (leader, vanchan_operator, outsider):
        assert (
            client_for(user)
            .get(reverse("site_picker_counts"), {"sel_kind": "district"})
            .status_code
            == 403
        )
    client.logout()
    response = client.get(reverse("site_picker_counts"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_picker_lists_every_site_of_the_tree_with_group_choices(client_for, province_clerk):
    page = client_for(province_clerk).get(reverse("conference_create")).content.decode()
    assert page.count('name="sel_site"') == 210
    assert 'value="commune@140"' in page and 'name="sel_kind" value="district"' in page
    assert 'name="sel_subtree" value="140"' in page
    assert str(UnitKind.COMMUNE.label) in page


def test_invitation_unit_is_the_sites_unit_on_the_conference_date(client_for, province_clerk):
    conf = ConferenceFactory(status=Status.DRAFT)
    scheduling.conference_update(
        actor=province_clerk,
        conference=conf,
        sites=site_selection_resolve(spec=SelectionSpec(groups=[("commune", "140")]), day=TODAY),
    )
    assert all(
        inv.unit_id == inv.site.unit_id and inv.unit.parent.code == "140"
        for inv in conf.invitations.exclude(site__key="15-UBND")
    )


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_picker_shows_counts_and_overlaps_live_in_the_browser(
    transactional_db, org, live_server, chromium_path
):
    """The real page in headless Chromium: ticking choices updates the count from the server,
    covered rows are highlighted, busy sites are flagged, the filter finds a district's communes."""
    from django.conf import settings as django_settings
    from django.test import Client
    from playwright.sync_api import sync_playwright

    from portal import services as org_services
    from tests.conftest import UserFactory

    clerk = UserFactory(username="clerk_browser")
    org_services.membership_grant(user=clerk, unit=org["15"], role="clerk")
    start = timezone.localtime(timezone.now() + dt.timedelta(days=2)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    busy = ConferenceFactory(
        title="Giao ban đã lên lịch", planned_start=start, planned_end=start + dt.timedelta(hours=3)
    )
    invite(busy, "140")
    client = Client()
    client.force_login(clerk)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    communes = Site.objects.filter(unit__parent__code="140").count()
    tu_code = str(Site.objects.get(key="15-TU").code)
    logs: list[str] = []
    with sync_playwright() as pw:  # runs an event loop: no ORM calls inside
        browser = pw.chromium.launch(
            executable_path=chromium_path, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        try:
            # Playwright's wait_for_function evaluates strings, which the pages' CSP refuses
            # ('unsafe-eval'); the policy itself is tested in tests/browser/test_csp_pages.py.
            context = browser.new_context(bypass_csp=True)
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
            page.goto(f"{live_server.url}{reverse('conference_create')}")
            page.wait_for_selector("#site-picker[data-ready='1']")
            # the form starts at the clerk's own unit; its chair site is counted as it will be saved
            assert page.inner_text("#picker-count").startswith("1 ")
            assert page.locator(".picker-row.chair").count() == 1
            page.fill("#id_planned_start", start.strftime("%Y-%m-%dT%H:%M"))
            page.fill("#id_planned_end", (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
            page.evaluate("document.getElementById('site-picker').dataset.ready = ''")
            page.check("input[name=sel_kind][value=district]")
            page.check("input[name=sel_group][value='commune@140']")
            page.wait_for_function(
                f"document.getElementById('picker-count').textContent.startsWith('{9 + communes + 1} ')"
            )
            page.wait_for_selector("#picker-overlaps li details")
            assert "Giao ban đã lên lịch" in page.inner_text("#picker-overlaps")
            assert page.locator(".picker-row.covered").count() == 9 + communes
            page.fill("#picker-filter", "van chan")
            visible = page.locator(".picker-row:not([hidden])").count()
            # the province, its People's Committee, the district and its communes
            assert visible == 3 + communes
            page.fill("#picker-filter", "")
            # an internal meeting of the Party Committee cannot invite the districts: the picker
            # greys out what the level and host leave out and names what is ticked outside
            page.select_option("#id_level", "internal")
            page.select_option("#id_host_unit", "15-TU")
            page.wait_for_selector("#picker-outside:not([hidden])")
            assert f"{9 + communes}:" in page.inner_text("#picker-outside")
            assert page.input_value("#id_chair_site") == tu_code
            assert page.locator(".picker-row.outside").count() > 0
            assert page.locator(".picker-row.chair label.site").inner_text().startswith("Tỉnh ủy")
        except Exception:
            print("\n".join(logs))
            raise
        finally:
            browser.close()
    assert not [line for line in logs if line.startswith("pageerror")]
