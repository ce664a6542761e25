"""The .fbp flow language, read into and written from noflo's JSON graph dicts.

The name importers use. The work is done in:

* fbp_parser: ``parse`` and ``FbpSyntaxError``, the language as the npm ``fbp`` reference
  reads it, on top of fbp_peg (terminals, error reporting) and fbp_json (JSON IIPs);
* fbp_writer: ``serialize``, a graph dict written back as .fbp text.
"""

from __future__ import annotations

from .fbp_parser import FbpSyntaxError, parse
from .fbp_writer import serialize

__all__ = ["FbpSyntaxError", "parse", "serialize"]
