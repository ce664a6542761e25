"""The ``core`` library: the building blocks every graph needs."""
