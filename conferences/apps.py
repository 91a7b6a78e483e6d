from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConferencesConfig(AppConfig):
    name = "conferences"
    verbose_name = _("Hội nghị")

    def ready(self):
        from django.db.backends.signals import connection_created

        from conferences.folding import register_sqlite_function
        from conferences.live.media_sink import DOMAIN
        from media_worker import ports

        # SQLite computes giaoban_fold (generated columns, search) with the Python function.
        connection_created.connect(register_sqlite_function, dispatch_uid="conferences_sqlite_fold")
        # The media plane reports presence and media through this port; it never imports us.
        ports.register(DOMAIN)
