"""Graphs as data: the model with its change events (model.py), the JSON format
(json_format.py), the .fbp language (fbp_parser/fbp_writer) and graph files on disk (files.py).
Nothing here runs a graph: the engine does (docs/graphs.md)."""
