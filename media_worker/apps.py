from django.apps import AppConfig


class MediaWorkerConfig(AppConfig):
    name = "media_worker"
    verbose_name = "Media worker"
