"""ASGI entry point for Daphne: HTTP through Django, WebSockets through Channels.

WebSocket routes come from each app's ``routing.websocket_urlpatterns`` (the project package
is the one place allowed to wire apps together).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from portal import bodylimit  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402
from portal.security_headers import StaticSecurityHeaders  # noqa: E402

# Daphne refuses over-large bodies before reading them (portal/bodylimit.py).
bodylimit.install()

# Static files bypass Django's middleware: StaticSecurityHeaders gives them the same headers.
http_app = StaticSecurityHeaders(
    ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app
)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
