"""Word folding for search and matching, the same in Python, PostgreSQL and SQLite.

``fold_words("Phòng, chống dịch COVID-19")`` → ``"phong chong dich covid 19"``: NFC, letters with
diacritics to their base letter (đ → d; both cases), ASCII lower case, every run of anything but
``a-z0-9`` to one space, trimmed. The database computes it with the SQL function ``giaoban_fold``:
on PostgreSQL an IMMUTABLE SQL function over ``normalize``/``translate``/``regexp_replace``
(created by migration 0009 from the same two strings below, so no extension is needed); on
SQLite this module's Python function registered on every connection. Generated columns
(``Conference.title_words``, ``Topic.key``) store it, so no ``save()`` or service has to keep it,
and a query folds its text with the Python function: both sides match by construction
(``tests/conferences/test_history_search.py`` checks the database against Python).
"""

from __future__ import annotations

import re
import unicodedata

from django.db.models import Func, TextField

FOLD_FROM = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀ"
    "āĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠš"
    "ŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍ"
    "ȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱ"
    "ḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁ"
    "ẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗ"
    "ỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹđĐÐðøØłŁı"
)
FOLD_TO = (
    "abcdefghijklmnopqrstuvwxyzaaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyya"
    "aaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssss"
    "ttttuuuuuuuuuuuuwwyyyzzzzzzoouuaaiioouuuuuuuuuuaaaaggkkoooojggnnaaaaaaeeeeiiiioo"
    "oorrrruuuusstthhaaeeooooooooyyaabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikk"
    "kkkkllllllllmmmmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvww"
    "wwwwwwwwxxxxyyzzzzzzhtwyaaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiiioooooooooooo"
    "oooooooooooouuuuuuuuuuuuuuyyyyyyyyddddoolli"
)
SQL_FUNCTION = "giaoban_fold"
_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def fold_words(text: str) -> str:
    """Lower-case ASCII words of ``text`` separated by single spaces (see the module docstring)."""
    folded = unicodedata.normalize("NFC", text or "").translate(_TABLE)
    return _NOT_WORD.sub(" ", folded).strip()


class FoldWords(Func):
    """``giaoban_fold(<expression>)``: the database's ``fold_words``."""

    function = SQL_FUNCTION
    arity = 1
    output_field = TextField()


def postgresql_function_sql(fold_from: str = FOLD_FROM, fold_to: str = FOLD_TO) -> str:
    def literal(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    return (
        f"CREATE OR REPLACE FUNCTION {SQL_FUNCTION}(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
        f"SELECT btrim(regexp_replace(translate(normalize($1, NFC), {literal(fold_from)}, {literal(fold_to)}), "
        "'[^a-z0-9]+', ' ', 'g')) $$"
    )


def register_sqlite_function(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: give SQLite ``giaoban_fold`` (deterministic, so generated
    columns and indexes may use it)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQL_FUNCTION, 1, _sqlite_fold, deterministic=True)


def _sqlite_fold(value):
    return None if value is None else fold_words(value)
