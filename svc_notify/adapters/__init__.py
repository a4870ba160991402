"""The only I/O of svc_notify: the CQL stores, the delivery providers (APNs, FCM, SMTP), NATS, the
graph service."""
