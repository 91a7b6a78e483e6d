"""Project package and the organisation app.

The Celery app is imported here so that ``.delay()`` uses our broker settings in every process
(otherwise Celery silently falls back to AMQP on localhost).
"""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
