"""A one-command demo: a RAG app and a built-in model send traces to a collector; a demo judge scores them."""
