"""The project's URLs plus one view that fails, to see the 500 page a user would meet."""

from __future__ import annotations

from django.urls import path

from portal.urls import urlpatterns as project_urls


def crash(request):
    raise RuntimeError("a bug nobody should see the traceback of")


urlpatterns = [path("crash/", crash), *project_urls]
