"""The ``objects`` library: get (JMESPath), set, keys, values, merge and create objects."""
