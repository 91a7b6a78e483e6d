"""Root URL configuration: the project's entry points wire every app's pages here."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("org/", views.org_tree, name="org_tree"),
    path("org/units/<str:code>/", views.unit_detail, name="unit_detail"),
    path("org/sites/<uuid:code>/", views.site_detail, name="site_detail"),
    path("org/sites/<uuid:code>/edit/", views.site_edit, name="site_edit"),
    path("", include("conferences.urls")),
    path("", include("recordings.urls")),
    path("admin/", admin.site.urls),
    # browsers ask for /favicon.ico on pages without a <link rel="icon"> (files, the API)
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
]
