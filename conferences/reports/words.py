"""Word search over conference titles: punctuation-insensitive, any order, diacritic- and
case-insensitive, each word a prefix, ranked.

The query is folded like the titles (``conferences.folding``): "phòng, chống dịch", "phong chong
dich" and "COVID phong chong" are words, and a title matches when each word starts one of its
words. Two implementations of the match, with the same results (a test runs both on the demo
history and on SQLite): PostgreSQL's full-text search, ``to_tsvector('simple', title_words) @@
'phong:* & chong:*'``, served by the GIN index of migration 0010; elsewhere a ``LIKE`` per word.

Ranking is the same SQL on every backend, computed only for matching rows: each word counts 2
when it is a whole word of the title and 1 as a prefix, plus 3 when the words appear together
in the order typed; ties newest first.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Concat

from conferences.folding import fold_words
from conferences.models import Conference

MAX_WORDS = 8


def query_words(text: str) -> list[str]:
    """The folded words of a query, each once, in the order typed (at most ``MAX_WORDS``)."""
    words: list[str] = []
    for word in fold_words(text).split():
        if word not in words:
            words.append(word)
    return words[:MAX_WORDS]


class _WordsMatch(Func):
    """``to_tsvector('simple', <title_words>) @@ to_tsquery('simple', <query>)`` (PostgreSQL)."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra):
        vector, vector_params = compiler.compile(self.source_expressions[0])
        query, query_params = compiler.compile(self.source_expressions[1])
        sql = f"to_tsvector('simple'::regconfig, {vector}) @@ to_tsquery('simple'::regconfig, {query})"
        return sql, [*vector_params, *query_params]


def _fulltext(words: list[str]) -> Q:
    tsquery = " & ".join(f"{word}:*" for word in words)  # words are [a-z0-9]+: nothing to escape
    return Q(_WordsMatch(F("title_words"), Value(tsquery)))


def _like(words: list[str]) -> Q:
    q = Q()
    for word in words:
        q &= Q(title_words__startswith=word) | Q(title_words__contains=f" {word}")
    return q


def words_filter(words: list[str], *, fulltext: bool | None = None) -> Q:
    """Titles holding every word as a word prefix; ``fulltext`` defaults to "on PostgreSQL"."""
    if fulltext is None:
        fulltext = connection.vendor == "postgresql"
    return _fulltext(words) if fulltext else _like(words)


def words_rank(words: list[str]):
    """The rank expression (higher first); apply to matching rows only."""
    padded = Concat(Value(" "), F("title_words"), Value(" "), output_field=TextField())
    score = Value(0)
    for word in words:
        whole = Q(_padded__contains=f" {word} ")
        score = score + Case(
            When(whole, then=Value(2)), default=Value(1), output_field=IntegerField()
        )
    if len(words) > 1:
        phrase = Q(_padded__contains=" " + " ".join(words))
        score = score + Case(
            When(phrase, then=Value(3)), default=Value(0), output_field=IntegerField()
        )
    return padded, score


def search_titles(
    qs: QuerySet[Conference], text: str, *, fulltext: bool | None = None
) -> QuerySet[Conference]:
    """``qs`` narrowed to titles matching ``text``, annotated with ``search_rank``; an empty or
    punctuation-only query matches nothing."""
    words = query_words(text)
    if not words:
        return qs.none().annotate(search_rank=Value(0))
    padded, score = words_rank(words)
    return (
        qs.filter(words_filter(words, fulltext=fulltext))
        .alias(_padded=padded)
        .annotate(search_rank=score)
    )
