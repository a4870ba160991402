"""svc_timeline's adapters: the only modules that do I/O."""
