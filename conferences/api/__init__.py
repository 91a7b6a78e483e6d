"""Read-only REST API (``/api/v1/``) for the province's e-office systems: conferences, attendance
and dashboard figures, scoped exactly like the history pages; OpenAPI schema at ``/api/schema/``."""
