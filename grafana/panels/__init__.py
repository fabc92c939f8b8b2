"""The dashboards' source, one module per dashboard plus the shared building blocks (``blocks``).

Imported as the top-level package ``panels`` by grafana/generate_dashboards.py, which puts this
directory's parent on ``sys.path`` (the generator runs as a script, not from an installed package).
"""
