"""The only I/O of svc_graph: CQL stores, the Redis count cache, argon2, JWT, the clock."""
