"""Pages of the organisation: home, the tree with search, unit and site detail, site editing."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from portal import permissions, selectors, services
from portal.forms import OrgFilterForm, SiteForm
from portal.models import Membership, Site, Unit


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user  # signed in (login_required)
    memberships = (
        Membership.objects.filter(user=user).select_related("unit").order_by("role")  # type: ignore[misc]
    )
    return render(
        request,
        "portal/home.html",
        {
            "memberships": memberships,
            "operated_sites": permissions.sites_operated_by(request.user).select_related("unit")[
                :20
            ],
            "counts": selectors.org_counts(),
        },
    )


@login_required
def org_tree(request: HttpRequest) -> HttpResponse:
    form = OrgFilterForm(request.GET or None)
    day = form.day() if form.is_bound else None
    query = form.cleaned_data.get("q", "") if form.is_bound and form.is_valid() else ""
    results = selectors.unit_search(query, day=day) if query else None
    return render(
        request,
        "portal/org_tree.html",
        {
            "form": form,
            "tree": selectors.org_tree(day=day),
            "counts": selectors.org_counts(day=day),
            "query": query,
            "results": results,
            "day": day,
        },
    )


@login_required
def unit_detail(request: HttpRequest, code: str) -> HttpResponse:
    unit = get_object_or_404(Unit.objects.select_related("parent", "successor"), code=code)
    return render(
        request,
        "portal/unit_detail.html",
        {
            "unit": unit,
            "ancestors": selectors.unit_ancestors(unit),
            "children": unit.children.order_by("sort_order", "name"),
            "sites": unit.sites.all(),
            "memberships": unit.memberships.select_related("user").order_by(
                "role", "user__username"
            ),
            "can_manage": permissions.can_manage_unit(request.user, unit),
            "predecessors": unit.predecessors.all(),
        },
    )


@login_required
def site_detail(request: HttpRequest, code: str) -> HttpResponse:
    site = get_object_or_404(Site.objects.select_related("unit"), code=code)
    return render(
        request,
        "portal/site_detail.html",
        {
            "site": site,
            "operators": site.operators.order_by("username"),
            "can_edit": permissions.can_edit_site(request.user, site),
            "ancestors": selectors.unit_ancestors(site.unit),
        },
    )


@login_required
def site_edit(request: HttpRequest, code: str) -> HttpResponse:
    site = get_object_or_404(Site.objects.select_related("unit"), code=code)
    if not permissions.can_edit_site(request.user, site):
        raise PermissionDenied(_("Bạn không quản lý điểm cầu này."))
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        services.site_update(
            site=site, **{k: form.cleaned_data[k] for k in ("name", "location", "contact_phone")}
        )
        messages.success(request, _("Đã lưu điểm cầu."))
        return redirect("site_detail", code=site.code)
    return render(
        request,
        "portal/site_form.html",
        {"site": site, "form": form},
        status=400 if form.errors else 200,
    )
