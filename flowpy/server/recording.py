"""Recording what the server sends (``FLOWPY_VALIDATE_OUTPUT``, ``create_app(record_sent=)``),
so the conformance tests can validate every message against the fbp-protocol schemas."""

from __future__ import annotations

import threading


class Recorder:
    """Appends every sent message, one JSON document per line (for schema validation)."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, texts: list[str]) -> None:
        """Append these sent messages, one per line, flushed (nothing after close)."""
        with self._lock:
            if self._file.closed:
                return
            self._file.write("".join(text + "\n" for text in texts))
            self._file.flush()

    def close(self) -> None:
        """Close the file; later writes are ignored."""
        with self._lock:
            self._file.close()
