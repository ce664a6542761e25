"""The ``flow`` library: filter, route, gate, take/skip, batch, zip, sort, distinct, kick."""
