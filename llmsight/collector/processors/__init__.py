"""Processors change rows between the spool and the insert (redaction); batching is the exporter's."""
