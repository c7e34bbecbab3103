"""Scale-out: a cluster's local services (Postgres, Redis) and its settings."""
