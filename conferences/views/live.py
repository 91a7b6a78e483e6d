"""The live pages: the join page (PC, phone, tablet) and the chair console.

Thin views: they check who may open the page (``conferences.permissions``), then render it with
what the page script needs to open ``/ws/conferences/<code>/`` (docs/protocol.md). Everything
live — state, control, media — goes over the socket, where the server checks it again.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conferences import live_links, permissions
from conferences.joinlinks import JoinLinkError, join_link_read, join_link_user
from conferences.live import chat
from conferences.models import Conference
from media_worker.dispatch import slot_layout
from portal.models import Site, UnitKind


def _conference(code) -> Conference:
    conference = (
        Conference.objects.select_related("host_unit", "chair_site").filter(code=code).first()
    )
    if conference is None:
        raise Http404
    return conference


def _site_choices(user, conference: Conference) -> list[dict[str, str]]:
    """Invited sites the user may join as (for ``?site=``), in organisation order; the chair
    site is run from the console, so it is not one of them."""
    return [
        {"code": e.site_code, "name": e.site_name}
        for e in live_links.site_entries(user, conference)
        if e.kind == live_links.JOIN
    ]


def _host_site_page(request: HttpRequest, conference: Conference) -> HttpResponse:
    """For the chair site's technician: the host room is run from the chair console. Like every
    page of a live conference it says whether the room is recorded (the pill)."""
    from recordings.services import recording_status  # recordings builds on conferences

    return render(
        request,
        "conferences/live/host_site.html",
        {
            "conference": conference,
            "site": conference.chair_site,
            "room_open": live_links.room_open(conference),
            "opens_at": live_links.room_opens_at(conference),
            "recording": recording_status(conference),
            "operator_url": reverse(
                "operator_conference", args=[conference.code, conference.chair_site.code]
            )
            if conference.invitations.filter(site=conference.chair_site).exists()
            else None,
        },
    )


PROVINCE_KINDS = {
    UnitKind.PROVINCE,
    UnitKind.PARTY_COMMITTEE,
    UnitKind.PEOPLES_COUNCIL,
    UnitKind.PEOPLES_COMMITTEE,
}
AGENCY_KINDS = {UnitKind.PARTY_BOARD, UnitKind.AGENCY}


def _site_groups(conference: Conference) -> list[dict[str, object]]:
    """The console's grouping of the invited sites (and the chair site): the province's own
    bodies, the agencies, the districts, then the communes of each district, in organisation
    order. Each group: ``{"key", "label", "sites": [site code, …]}``."""
    sites = [
        (inv.site, inv.unit)
        for inv in conference.invitations.select_related("site", "unit", "unit__parent")
    ]
    if conference.chair_site_id and not any(
        site.pk == conference.chair_site_id for site, _unit in sites
    ):
        chair = Site.objects.select_related("unit", "unit__parent").get(pk=conference.chair_site_id)
        sites.append((chair, chair.unit))
    sites.sort(key=lambda pair: (pair[1].path, pair[0].key))
    groups: dict[str, dict[str, object]] = {}

    def group(key: str, label: str) -> list[str]:
        return groups.setdefault(key, {"key": key, "label": label, "sites": []})["sites"]  # type: ignore[return-value]

    for site, unit in sites:
        code = str(site.code)
        if unit.kind in PROVINCE_KINDS:
            group("province", _("Cấp tỉnh")).append(code)
        elif unit.kind in AGENCY_KINDS:
            group("agencies", _("Sở, ban, ngành")).append(code)
        elif unit.kind == UnitKind.DISTRICT:
            group("districts", _("Huyện, thị xã, thành phố")).append(code)
        elif unit.kind == UnitKind.COMMUNE and unit.parent is not None:
            group(
                f"communes-{unit.parent.code}",
                _("Xã thuộc %(district)s") % {"district": unit.parent.name},
            ).append(code)
        else:
            group("other", _("Điểm cầu khác")).append(code)
    order = ["province", "agencies", "districts"]
    return sorted(
        groups.values(),
        key=lambda g: (order.index(g["key"]) if g["key"] in order else len(order), 0),
    )


def _documents(conference: Conference, user) -> list[dict]:
    """The agenda PDFs the page may present or show (issue 14 item 4): none for a reader who
    may not read the conference's documents (a confidential conference's observers)."""
    from conferences.services.document_pages import presentable

    if user is None or not permissions.can_view_documents(user, conference):
        return []
    return [
        {"id": d.pk, "name": d.original_name, "item": d.agenda_item_id}
        for d in conference.documents.all()
        if presentable(d)
    ]


def _page_config(
    conference: Conference,
    *,
    token: str | None,
    site: str | None,
    console: bool,
    watch: bool = False,
    user=None,
) -> dict:
    pairs = (("t", token), ("site", site), ("watch", "1" if watch else None))
    query = urlencode([(k, v) for k, v in pairs if v])
    ws_path = f"/ws/conferences/{conference.code}/" + (f"?{query}" if query else "")
    layout = slot_layout()  # one setting for the page, the room host and the docs
    return {
        "code": str(conference.code),
        "ws_path": ws_path,
        "thumbnails": layout["thumbnails"],
        "console": console,
        "max_bitrate": layout["max_bitrate"],
        "simulcast": layout["simulcast"],
        "slots": layout["slots"],
        "chat_max_chars": chat.MAX_CHARS,
        "documents": _documents(conference, user),
        # the document page images want the same credentials as the socket (a join link)
        "doc_query": urlencode([("t", token)]) if token else "",
    }


@require_GET
def conference_join(request: HttpRequest, code) -> HttpResponse:
    """The participant's page. ``?t=<token>``: a personal join link (no login needed);
    ``?site=<site code>``: join as that invited site (users operating several)."""
    conference = _conference(code)
    token = request.GET.get("t") or None
    site = request.GET.get("site") or None
    choices: list[dict[str, str]] = []
    if token:
        try:
            user = join_link_user(join_link_read(token, conference_code=str(conference.code)))
        except JoinLinkError as exc:
            message = (
                _("Liên kết tham dự đã hết hạn.")
                if exc.code == "join_link_expired"
                else _("Liên kết tham dự không hợp lệ.")
            )
            return HttpResponseForbidden(message)
        site = None  # the token fixes the site
        can_chair = False
    else:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        user = request.user
        can_chair = permissions.can_chair(user, conference)
        entries = live_links.site_entries(user, conference)
        host = next((e for e in entries if e.kind == live_links.HOST), None)
        if (
            not can_chair
            and host is not None
            and (site == host.site_code or (not site and len(entries) == 1))
        ):
            return _host_site_page(request, conference)
        if not permissions.can_view(user, conference):
            raise Http404
        choices = _site_choices(user, conference)
        if not site and choices and host is not None and not can_chair:
            # name the site: left to the server, a technician who also runs the chair site
            # would speak for the chair site (first in organisation order)
            site = choices[0]["code"]
    config = _page_config(conference, token=token, site=site, console=False, user=user)
    return render(
        request,
        "conferences/live/join.html",
        {
            "conference": conference,
            "config": config,
            "participant_name": user.get_full_name() or user.get_username(),
            "site_choices": choices if len(choices) > 1 else [],
            "chosen_site": site,
            "can_chair": can_chair,
            "support_phone": conference.chair_site.contact_phone
            if conference.chair_site_id
            else "",
        },
    )


@require_GET
def conference_watch(request: HttpRequest, code) -> HttpResponse:
    """Watch-only: main, content and audio, without a site and without controls (leaders of
    the host, the managing clerks, the observers the clerk listed; the socket checks again)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    conference = _conference(code)
    if not permissions.can_view(request.user, conference):
        raise Http404
    if not permissions.can_watch(request.user, conference):
        raise PermissionDenied(_("Bạn không được mời theo dõi hội nghị này."))
    return render(
        request,
        "conferences/live/watch.html",
        {
            "conference": conference,
            "config": _page_config(
                conference, token=None, site=None, console=False, watch=True, user=request.user
            ),
            "participant_name": request.user.get_full_name() or request.user.get_username(),
        },
    )


@require_GET
def conference_console(request: HttpRequest, code) -> HttpResponse:
    """The chair console: organisers see it; only chairs get the controls (the socket checks)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    conference = _conference(code)
    if not permissions.can_view(request.user, conference):
        raise Http404
    if not permissions.is_organiser(request.user, conference):
        raise PermissionDenied
    config = _page_config(conference, token=None, site=None, console=True, user=request.user)
    config["groups"] = _site_groups(conference)
    return render(
        request,
        "conferences/live/console.html",
        {
            "conference": conference,
            "config": config,
            "can_chair": permissions.can_chair(request.user, conference),
            "participant_name": request.user.get_full_name() or request.user.get_username(),
        },
    )
