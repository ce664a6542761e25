"""The ``flowpy`` command: one module per subcommand, registered in main.py. The top layer:
it may import every other one, and nothing imports it."""
