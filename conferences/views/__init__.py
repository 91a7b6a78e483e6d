"""Conference pages, one module per concern (``core``: list, create/edit, overview, agenda,
documents, transitions); each ``urls_*`` module imports its own."""
