"""The ``net`` library: TCP client and server, UDP send and receive, WebSocket client."""
