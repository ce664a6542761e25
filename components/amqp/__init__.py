"""The ``amqp`` library: publish to and consume AMQP 0-9-1 queues (needs flowpy-fbp[amqp])."""
