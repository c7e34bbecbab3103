"""The desk dashboard: a Streamlit app over the robo-dagster DuckDB (issue 13).

- ``queries``: the reads, plain functions returning pandas frames;
- ``pipeline``: the Dagster instance's latest runs and asset freshness;
- ``charts``: the Altair charts; ``formatting``: numbers as people read them;
- ``app`` and ``views/``: the Streamlit app, one module per page;
- ``__main__``: ``python -m robo_dagster.dashboard`` starts it on 127.0.0.1;
- ``browser``: headless Chromium over the DevTools protocol, for screenshots and tests.
"""
