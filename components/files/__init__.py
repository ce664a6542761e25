"""The ``files`` library: read, write and list files, streaming with bounded memory."""
