"""The ``xml`` library: XML text to values and back (Parse needs flowpy-fbp[xml], defusedxml)."""
