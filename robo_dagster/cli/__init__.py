"""The entry points: the ``robo-dagster`` command (``main``) and the quickstart
(``python -m robo_dagster.cli.quickstart``, what ``make pipeline`` runs)."""
