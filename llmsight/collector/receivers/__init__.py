"""Receivers accept OTLP over HTTP and gRPC and hand decoded rows to the pipeline."""
