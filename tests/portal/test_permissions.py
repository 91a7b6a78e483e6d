from __future__ import annotations

from portal import permissions
from portal.models import Site, Unit


def test_roles_apply_to_the_unit_and_everything_below(org, vanchan_clerk):
    assert permissions.can_manage_unit(vanchan_clerk, org["140"])
    assert permissions.can_manage_unit(vanchan_clerk, org["04630"])
    assert not permissions.can_manage_unit(vanchan_clerk, org["138"])
    assert not permissions.can_manage_unit(vanchan_clerk, org["15"])


def test_province_clerk_manages_everything(org, province_clerk):
    assert all(permissions.can_manage_unit(province_clerk, u) for u in Unit.objects.all())


def test_leader_reads_but_does_not_manage(org, leader, outsider):
    assert permissions.can_view_org(leader)
    assert not permissions.can_manage_unit(leader, org["140"])
    assert not permissions.can_manage_unit(outsider, org["140"])


def test_units_q_filters_querysets_to_the_subtree(org, vanchan_clerk):
    visible = Unit.objects.filter(permissions.units_q(vanchan_clerk, {"clerk"}))
    assert visible.filter(code="04630").exists()
    assert not visible.filter(code="138").exists()
    sites = Site.objects.filter(permissions.units_q(vanchan_clerk, {"clerk"}, prefix="unit__"))
    assert sites.count() == Unit.objects.subtree_of(org["140"]).count()


def test_anonymous_may_do_nothing(org):
    from django.contrib.auth.models import AnonymousUser

    anon = AnonymousUser()
    site = Site.objects.get(key="140")
    assert not permissions.can_view_org(anon)
    assert not permissions.can_edit_site(anon, site)
    assert not permissions.operates_site(anon, site)
