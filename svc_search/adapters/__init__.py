"""svc_search's adapters: the only modules that do I/O."""
