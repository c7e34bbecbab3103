"""The seed's REST API (``robo-dagster serve``): a thin, secured FastAPI service over the
same submission and read functions as the CLI. See ``app`` for the endpoints."""
