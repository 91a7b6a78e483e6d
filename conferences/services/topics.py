"""Topics by name: one topic per folded name, created when a clerk types a new one.

"Chuyển đổi số", "chuyen doi so" and "CHUYỂN  ĐỔI SỐ" are the same topic (``Topic.key``, the name
folded by ``conferences.folding``); the first spelling typed stays its name. The slug is the key
with dashes ("chuyen-doi-so"), so ``đ`` is no longer dropped from it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet

from conferences.folding import fold_words
from conferences.models import Topic

NAME_MAX = 120
SLUG_MAX = 60


def topic_slug(key: str) -> str:
    return key.replace(" ", "-")[:SLUG_MAX].strip("-")


def topics_for_names(names: Iterable[str]) -> list[Topic]:
    """The topics of these names (in order, each once), creating those that do not exist.

    Names that fold to nothing (only punctuation or signs) are ignored.
    """
    out: dict[int, Topic] = {}
    for raw in names:
        name = " ".join((raw or "").split())[:NAME_MAX]
        key = fold_words(name)
        if not key:
            continue
        topic = Topic.objects.filter(key=key).first() or _create(name=name, key=key)
        out.setdefault(topic.pk, topic)
    return list(out.values())


def _create(*, name: str, key: str) -> Topic:
    base = topic_slug(key) or "chu-de"
    for n in range(1, 100):
        slug = base if n == 1 else f"{base[: SLUG_MAX - 4]}-{n}"
        if Topic.objects.filter(slug=slug).exists():
            continue
        try:
            with transaction.atomic():
                return Topic.objects.create(name=name, slug=slug)
        except IntegrityError:
            existing = Topic.objects.filter(key=key).first()  # created meanwhile by someone else
            if existing is not None:
                return existing
    raise RuntimeError(f"no free slug for topic {name!r}")


def topic_suggestions(text: str, *, limit: int = 8) -> QuerySet[Topic]:
    """Existing topics whose words start with the typed words (any order), most used first."""
    words = fold_words(text).split()
    topics = Topic.objects.all()
    for word in words:
        topics = topics.filter(Q(key__startswith=word) | Q(key__contains=f" {word}"))
    return topics.annotate(n=Count("conferences")).order_by("-n", "name")[:limit]
