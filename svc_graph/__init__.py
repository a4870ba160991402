"""svc_graph: users, sessions and the follow graph (follow, unfollow, block, mute)."""
