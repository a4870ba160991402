"""Local simulators of the notification providers svc_notify delivers through, in one process.

    python -m deploy.provider_sim      (started by `make up` as the `provider_sim` component)

What it serves (ports from mesh.config.Stack; credentials from var/secrets, deploy/secrets.py):

APNs  https://127.0.0.1:9471 (TM_APNS_SIM_PORT): HTTP/2 only (ALPN h2), TLS with a certificate of the
      local test CA. `POST /3/device/<hex token>` checked as Apple does: the provider token (ES256 JWT,
      kid = the key id, iss = the team id, signed by the .p8 key, iat at most an hour old: else 403
      MissingProviderToken / InvalidProviderToken / ExpiredProviderToken), apns-topic (400 MissingTopic
      / TopicDisallowed), apns-push-type (400 InvalidPushType), apns-priority, apns-expiration, apns-id
      (UUID), apns-collapse-id (<= 64 bytes), the token (400 BadDeviceToken), the payload (400
      PayloadEmpty, 413 PayloadTooLarge over 4096 bytes, 400 BadPayload when not a JSON object with an
      "aps" dictionary: Apple documents no reason of its own for that). 200 with an `apns-id` header;
      errors as Apple's {"reason": ...}, 410 as {"reason": "Unregistered", "timestamp": <ms>}.
FCM   https://127.0.0.1:9472 (TM_FCM_SIM_PORT): HTTP/2 or 1.1 over TLS.
      `POST /token`: the OAuth2 JWT-bearer grant, the RS256 assertion verified with the service
      account's key (kid, iss, aud = token_uri, scope, iat/exp at most an hour apart) -> {"access_token",
      "expires_in", "token_type": "Bearer"}; else 400 {"error": "invalid_grant" | "invalid_scope" |
      "unsupported_grant_type", "error_description"}.
      `POST /v1/projects/<id>/messages:send`: the bearer token must be one it issued, unexpired and
      not revoked (else 401 UNAUTHENTICATED), the project the account's (else 403 PERMISSION_DENIED),
      message.token present, data values strings (else 400 INVALID_ARGUMENT) -> 200 {"name":
      "projects/<id>/messages/<n>"}; errors in Google's shape {"error": {"code", "message", "status",
      "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode"}]}}.
SMTP  127.0.0.1:2525 (TM_SMTP_SIM_PORT): aiosmtpd, STARTTLS offered (same certificate), no AUTH;
      records every message accepted.

Control API  http://127.0.0.1:9474 (TM_PROVIDER_SIM_CONTROL_PORT), plain HTTP/1.1 JSON, for tests:
  GET  /health                          {"status": "ok"} once every listener is up
  POST /reset                           forget everything below (recorded, scripted, states)
  GET  /apns/requests[?token=T]         every APNs request answered: token, headers, payload, the
                                        decoded JWT (header, claims), status, reason, apns_id
  POST /apns/script   {"token", "responses": [{"status", "reason"?, "retry_after"?, "delay_s"?}]}
                                        the next requests for that token get these answers, one
                                        each, in order (after the JWT check); "delay_s" stalls
                                        first, and an entry with only "delay_s" then answers as usual
  POST /apns/unregister {"token"}       410 Unregistered from now on
  GET  /fcm/requests[?token=T]          every send: token, message, status, error_code
  GET  /fcm/token-requests              every token request: claims, status, error
  POST /fcm/script    {"token", "responses": [{"status", "error_code"?, "message"?, "retry_after"?,
                                        "delay_s"?}]}   (error_code defaults from the status:
                                        429 QUOTA_EXCEEDED, 500 INTERNAL, 503 UNAVAILABLE, 404
                                        UNREGISTERED, 403 SENDER_ID_MISMATCH, 400 INVALID_ARGUMENT)
  POST /fcm/unregister {"token"}        404 UNREGISTERED from now on
  POST /fcm/revoke    {"access_token"}  that access token is refused from now on (401)
  GET  /smtp/messages[?to=ADDRESS]      every message accepted: envelope, headers, Message-ID, body
  POST /smtp/script   {"address", "responses": [{"code", "message"?, "delay_s"?}]}  answers at RCPT
  POST /smtp/reject   {"address"}       550 5.1.1 at RCPT from now on
Unique tokens and addresses per test keep tests independent of each other; nothing needs a reset.
"""
