"""Leaders' history: read-only selectors for the dashboard, savings, search and exports.

Every figure is computed from the conferences a user may see
(``conferences.permissions.visible_conferences``) and, for attendance, from the invitations of
units inside the user's subtrees; units are reported as they were on the conference date
(``Invitation.unit``, ``Conference.host_unit``) unless a report asks to map them to successors.
"""
