"""svc_tweet: tweets with media, retweets, likes and comments."""
