"""The ``http`` library: HTTP requests with httpx (timeouts, pooling, bounded concurrency)."""
