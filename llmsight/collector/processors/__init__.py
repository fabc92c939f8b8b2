"""Processors sit between receivers and the exporter: batching, redaction."""
