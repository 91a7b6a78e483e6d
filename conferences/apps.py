from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConferencesConfig(AppConfig):
    name = "conferences"
    verbose_name = _("Hội nghị")

    def ready(self):
        # Keeps the history summary up to date when conferences end or attendance changes.
        from conferences.reports import summary  # noqa: F401
