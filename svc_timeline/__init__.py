"""svc_timeline: home and user timelines by hybrid fan-out."""
