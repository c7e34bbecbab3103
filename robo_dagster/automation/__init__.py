"""What starts the work: the jobs, the exchange-calendar schedules, the sensors (market
events, the inbox, open orders, the snapshot) and the declarative automation conditions.

It sits above the asset groups it triggers, and only ``definitions`` imports it: the
groups take their queues from ``tasks`` and their checks' condition from
``asset_defaults``.
"""
