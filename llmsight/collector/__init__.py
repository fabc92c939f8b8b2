"""The collector: OTLP receivers -> processors -> ClickHouse exporter, as in the OpenTelemetry Collector."""
