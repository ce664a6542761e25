"""The ``html`` library: pick parts of HTML pages with CSS selectors (needs flowpy-fbp[html])."""
