"""The ``strings`` library: JSON, case, splitting and joining, regex replace, templates."""
