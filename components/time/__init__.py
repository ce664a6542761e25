"""The ``time`` library: delay, interval, throttle, debounce and timestamps."""
