"""The live conference, owned in one place (docs/architecture.md, "The live conference").

- ``participants`` — who joins as whom (the one place that decides it);
- ``selectors`` — the snapshot sent on connect and the state a media room enforces;
- ``reducer`` — the typed event schemas and the pure reducer (snapshot + events == snapshot);
- ``commands`` — every chair/site command: check → write + one audit entry → events and room
  sync on commit. Every entry point (socket, HTTP view, task, admin) calls these only;
- ``lifecycle`` — the only way a conference starts and ends live (``scheduling`` delegates);
- ``media_sink`` — what the media plane reports (presence, published media, speaking), fenced
  by the room's lease epoch; registered as ``media_worker``'s domain port at start-up.
"""
