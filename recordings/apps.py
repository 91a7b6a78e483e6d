from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordingsConfig(AppConfig):
    name = "recordings"
    verbose_name = _("Ghi hình")
    default_auto_field = "django.db.models.BigAutoField"
