"""URLs of the clerks' conference pages: list, create/edit, overview, agenda, documents."""

from __future__ import annotations

from django.urls import path

from conferences.views import core, join_links, observers

urlpatterns = [
    path("conferences/", core.conference_list, name="conference_list"),
    path("conferences/new/", core.conference_create, name="conference_create"),
    path("conferences/site-picker/counts/", core.site_picker_counts, name="site_picker_counts"),
    path("conferences/<uuid:code>/", core.conference_detail, name="conference_detail"),
    path("conferences/<uuid:code>/edit/", core.conference_edit, name="conference_edit"),
    path(
        "conferences/<uuid:code>/transition/",
        core.conference_transition,
        name="conference_transition",
    ),
    path(
        "conferences/<uuid:code>/links/",
        join_links.conference_join_links,
        name="conference_join_links",
    ),
    path(
        "conferences/<uuid:code>/observers/",
        observers.conference_observers,
        name="conference_observers",
    ),
    path("conferences/<uuid:code>/agenda/", core.conference_agenda, name="conference_agenda"),
    path("conferences/<uuid:code>/agenda/reorder/", core.agenda_reorder, name="agenda_reorder"),
    path(
        "conferences/<uuid:code>/agenda/<int:item_id>/edit/",
        core.agenda_item_edit,
        name="agenda_item_edit",
    ),
    path(
        "conferences/<uuid:code>/agenda/<int:item_id>/delete/",
        core.agenda_item_delete,
        name="agenda_item_delete",
    ),
    path(
        "conferences/<uuid:code>/agenda/<int:item_id>/move/",
        core.agenda_item_move,
        name="agenda_item_move",
    ),
    path(
        "conferences/<uuid:code>/documents/", core.conference_documents, name="conference_documents"
    ),
    path(
        "conferences/<uuid:code>/documents/<int:document_id>/",
        core.document_download,
        name="document_download",
    ),
    path(
        "conferences/<uuid:code>/documents/<int:document_id>/delete/",
        core.document_delete,
        name="document_delete",
    ),
]
