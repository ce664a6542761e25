"""The .fbp flow language, read into and written from noflo's JSON graph dicts.

The name importers use; the work is done in fbp_parser.
"""

from __future__ import annotations

from .fbp_parser import FbpSyntaxError, parse, serialize

__all__ = ["FbpSyntaxError", "parse", "serialize"]
