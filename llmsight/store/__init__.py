"""The ClickHouse schema and client: one URL picks embedded chDB or a ClickHouse server."""
