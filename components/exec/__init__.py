"""The ``exec`` library: run a program (an argv list, never a shell) as a process."""
