"""The ``math`` library: arithmetic on two operands, comparison, and aggregates."""
