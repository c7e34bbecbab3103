"""Monitoring: durable alerts in DuckDB, raised from the Dagster event log, sent to a webhook.

- ``alerts``: the ``monitoring.alerts`` table and the functions that raise, deduplicate and
  resolve alerts (plain DuckDB, no Dagster import, so a CLI or notebook can use it);
- ``sensor``: ``alerts_sensor``, which turns failed checks and runs into alerts;
- ``webhook``: the Slack-compatible channel that delivers them.

The package ``__init__`` imports nothing, so importing the store does not load Dagster.
"""
