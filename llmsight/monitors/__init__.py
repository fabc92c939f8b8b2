"""Monitors: what the monitor file (``llmsight.yaml``) asks to watch, run on schedules, stored as results
in ClickHouse, and told to people by email and webhooks."""
