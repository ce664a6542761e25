"""The ``mqtt`` library: publish to and subscribe to MQTT topics (needs flowpy-fbp[mqtt])."""
