"""Where the delivery providers are and how svc_notify proves who it is to them, from TM_* variables.

The defaults are the local stack: the provider simulators (deploy/provider_sim) and the credentials
`make up` makes under <TM_VAR_DIR>/secrets (deploy/secrets.py). A production deployment sets:

  APNs  TM_APNS_URL=https://api.push.apple.com (sandbox: https://api.sandbox.push.apple.com)
        TM_APNS_KEY_FILE (the .p8 from the Apple developer account), TM_APNS_KEY_ID, TM_APNS_TEAM_ID,
        TM_APNS_TOPIC (the app's bundle id), TM_APNS_CA_FILE= (empty: the system trust store)
  FCM   TM_FCM_URL=https://fcm.googleapis.com, TM_FCM_SERVICE_ACCOUNT_FILE (the project's
        service-account key JSON: project id and token endpoint come from it), TM_FCM_CA_FILE=
  SMTP  TM_SMTP_HOST, TM_SMTP_PORT (587), TM_SMTP_STARTTLS=true, TM_SMTP_USER, TM_SMTP_PASSWORD,
        TM_SMTP_FROM, TM_SMTP_CA_FILE=

Each *_TIMEOUT_S is the cap of one send: the call's remaining deadline is used when shorter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from mesh.config import Stack, env_float, env_int, env_str

# The identities of the local credentials (deploy/secrets.py writes them into what the simulators
# know; a real Apple developer account / Firebase project has its own).
LOCAL_APNS_KEY_ID = "TMLOCALK01"  # Apple key ids and team ids are 10 characters
LOCAL_APNS_TEAM_ID = "TMTEAM0001"
LOCAL_APNS_TOPIC = "com.tweetmesh.app"
LOCAL_FCM_PROJECT_ID = "tweetmesh-local"


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name} must be true or false, got {raw!r}")


def _secrets_dir(stack: Stack) -> Path:
    return stack.var_dir / "secrets"


def _optional_path(name: str, default: Path | None) -> Path | None:
    """A file setting where an explicit empty value means 'none' (e.g. the system trust store)."""
    if name in os.environ:
        raw = os.environ[name].strip()
        return Path(raw) if raw else None
    return default


@dataclass(frozen=True)
class ApnsSettings:
    url: str  # scheme://host[:port], no trailing slash
    key_file: Path  # the .p8 token-signing key (PKCS#8 PEM, EC P-256)
    key_id: str
    team_id: str
    topic: str  # the app's bundle id
    ca_file: Path | None  # None: the system trust store
    timeout_s: float = 10.0
    token_refresh_s: float = 40 * 60  # Apple: not more often than every 20 min, never older than 60 min
    expiration_s: int = 24 * 3600  # apns-expiration: how long Apple keeps trying an offline device

    @classmethod
    def from_env(cls, stack: Stack | None = None) -> ApnsSettings:
        stack = stack or Stack()
        folder = _secrets_dir(stack)
        return cls(
            url=env_str("TM_APNS_URL", stack.apns_sim_url).rstrip("/"),
            key_file=Path(env_str("TM_APNS_KEY_FILE", str(folder / "apns_auth_key.p8"))),
            key_id=env_str("TM_APNS_KEY_ID", LOCAL_APNS_KEY_ID),
            team_id=env_str("TM_APNS_TEAM_ID", LOCAL_APNS_TEAM_ID),
            topic=env_str("TM_APNS_TOPIC", LOCAL_APNS_TOPIC),
            ca_file=_optional_path("TM_APNS_CA_FILE", folder / "provider_ca.pem"),
            timeout_s=env_float("TM_APNS_TIMEOUT_S", 10.0),
            token_refresh_s=env_float("TM_APNS_TOKEN_REFRESH_S", 40 * 60),
            expiration_s=env_int("TM_APNS_EXPIRATION_S", 24 * 3600),
        )


@dataclass(frozen=True)
class FcmSettings:
    url: str  # the FCM API base, no trailing slash
    service_account_file: Path  # Google service-account key JSON (project_id, token_uri, key)
    ca_file: Path | None  # trust for both the API and the token endpoint; None: system store
    timeout_s: float = 10.0
    token_timeout_s: float = 10.0  # cap of one OAuth2 token request

    @classmethod
    def from_env(cls, stack: Stack | None = None) -> FcmSettings:
        stack = stack or Stack()
        folder = _secrets_dir(stack)
        return cls(
            url=env_str("TM_FCM_URL", stack.fcm_sim_url).rstrip("/"),
            service_account_file=Path(env_str("TM_FCM_SERVICE_ACCOUNT_FILE", str(folder / "fcm_service_account.json"))),
            ca_file=_optional_path("TM_FCM_CA_FILE", folder / "provider_ca.pem"),
            timeout_s=env_float("TM_FCM_TIMEOUT_S", 10.0),
            token_timeout_s=env_float("TM_FCM_TOKEN_TIMEOUT_S", 10.0),
        )


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    from_address: str  # the From header and the envelope sender
    starttls: bool = False  # upgrade with STARTTLS (required before AUTH on a real relay)
    user: str = ""  # AUTH when set
    password: str = ""
    ca_file: Path | None = None  # trust for STARTTLS; None: the system trust store
    timeout_s: float = 15.0
    message_id_domain: str = ""  # the right-hand side of Message-ID; default: the From domain

    @property
    def id_domain(self) -> str:
        address = parseaddr(self.from_address)[1]
        return self.message_id_domain or address.rpartition("@")[2] or "tweetmesh.local"

    @classmethod
    def from_env(cls, stack: Stack | None = None) -> SmtpSettings:
        stack = stack or Stack()
        return cls(
            host=env_str("TM_SMTP_HOST", stack.host),
            port=env_int("TM_SMTP_PORT", stack.smtp_sim_port),
            from_address=env_str("TM_SMTP_FROM", "TweetMesh <notifications@tweetmesh.local>"),
            starttls=env_bool("TM_SMTP_STARTTLS", False),
            user=env_str("TM_SMTP_USER", ""),
            password=env_str("TM_SMTP_PASSWORD", ""),
            ca_file=_optional_path("TM_SMTP_CA_FILE", None),
            timeout_s=env_float("TM_SMTP_TIMEOUT_S", 15.0),
            message_id_domain=env_str("TM_SMTP_MESSAGE_ID_DOMAIN", ""),
        )
