"""svc_search: tweet and user search."""
