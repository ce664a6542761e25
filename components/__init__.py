"""flowpy's component library. Each subpackage is a library prefix (``core/Repeat``)."""
