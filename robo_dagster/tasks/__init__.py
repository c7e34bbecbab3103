"""The seed's task machinery, in one place, below the asset groups that use it.

- ``queues``: the queues, their limits, timeouts and backoff, and the priority scale, as
  Dagster run tags;
- ``retries``: a step's retry with its queue's backoff when a provider is unavailable;
- ``submission``: turning a request (``robo-dagster submit``/``orchestrate``, the REST
  API) into a run on Dagster's queue;
- ``held_tasks``: runs that wait for other runs to succeed (``submit --after``);
- ``status``: the queue view (``robo-dagster tasks``, ``GET /api/v1/scheduling/status``);
- ``run_names``: what a person reads for a run: its job, or a one-off run's assets;
- ``suggestions``: "did you mean …?" for a misspelt job, asset or option;
- ``run_owner``: which process owns an in-process run, so a dead one's runs are failed.
"""
