"""The only I/O of svc_tweet: CQL stores, the Redis hydration cache, the object store, the graph
service, the clock."""
