"""Exporters write batches of rows to storage (ClickHouse)."""
