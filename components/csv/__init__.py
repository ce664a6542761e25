"""The ``csv`` library: parse CSV lines or text into objects, and format objects as CSV."""
