"""The ``yaml`` library: YAML text to values and back (needs flowpy-fbp[yaml], PyYAML)."""
