"""A self-contained demo: a small RAG app and a built-in model server send traces to a collector, a demo judge scores them."""
