"""svc_notify: notifications, devices and push/email delivery."""
