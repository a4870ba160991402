"""Email notifications over SMTP (a relay from configuration), with the standard library's smtplib
run in a worker thread so the event loop never blocks.

The Message-ID is `<{delivery_id}@{domain}>`, the same on every attempt, so a mail client shows a
repeat (a retry after a lost answer) as one message.

How the relay's answers map to SendOutcome:
  accepted (250 after DATA)                      DELIVERED
  4xx at any step (451, 452, 421...)             RETRY (a temporary failure, by SMTP's own rules)
  5xx on RCPT (550 mailbox unavailable, 551, 553 bad address...), on MAIL or DATA
                                                 REJECTED (dead-letter: an address is not a push
                                                 token, and the issue removes only push tokens)
  connection refused or dropped, timeouts, TLS failure, the relay refusing our AUTH or offering
  no STARTTLS (our configuration, not this message's), no time left   RETRY

One send is one SMTP session (connect, EHLO, [STARTTLS, EHLO], [AUTH], MAIL, RCPT, DATA, QUIT),
bounded by the call's deadline. When the deadline passes the send answers RETRY at once; the worker
thread stops at its socket timeout, the same length.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from mesh.errors import Unavailable
from svc_notify.adapters.provider_http import deadline_s
from svc_notify.adapters.provider_settings import SmtpSettings
from svc_notify.domain import OutgoingMessage, SendOutcome, SendResult


def build_email(settings: SmtpSettings, target: str, message: OutgoingMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.from_address
    email["To"] = target
    email["Subject"] = message.title
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = f"<{message.delivery_id}@{settings.id_domain}>"
    email["X-Tweetmesh-Notification-Id"] = str(message.notification_id)
    email.set_content(message.body)
    return email


def _code_result(code: int, text: bytes | str, step: str) -> SendResult:
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    detail = f"{code} {words}".strip() + f" (at {step})"
    if 400 <= code < 500:
        return SendResult(SendOutcome.RETRY, detail)
    if 500 <= code < 600:
        return SendResult(SendOutcome.REJECTED, detail)
    return SendResult(SendOutcome.RETRY, f"unexpected reply {detail}")


class SmtpSender:
    """svc_notify.ports.ChannelSender for email."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._envelope_from = parseaddr(settings.from_address)[1] or settings.from_address
        self._tls = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)

    async def send(self, target: str, message: OutgoingMessage) -> SendResult:
        email = build_email(self._settings, target, message)
        try:
            timeout = deadline_s(self._settings.timeout_s)
            async with asyncio.timeout(timeout):
                return await asyncio.to_thread(self._session, target, email, timeout)
        except (TimeoutError, Unavailable) as exc:
            return SendResult(SendOutcome.RETRY, f"SMTP timed out: {exc}".rstrip(": "))

    def _session(self, target: str, email: EmailMessage, timeout: float) -> SendResult:
        settings = self._settings
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as smtp:
                smtp.ehlo()
                if settings.starttls:
                    smtp.starttls(context=self._tls)
                    smtp.ehlo()
                if settings.user:
                    smtp.login(settings.user, settings.password)
                smtp.send_message(email, from_addr=self._envelope_from, to_addrs=[target])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _code_result(code, text, "RCPT")
        except smtplib.SMTPSenderRefused as exc:
            return _code_result(exc.smtp_code, exc.smtp_error, "MAIL")
        except smtplib.SMTPDataError as exc:
            return _code_result(exc.smtp_code, exc.smtp_error, "DATA")
        except smtplib.SMTPAuthenticationError as exc:
            return SendResult(SendOutcome.RETRY, f"{exc.smtp_code} {exc.smtp_error!r} (AUTH refused: check TM_SMTP_USER/PASSWORD)")
        except smtplib.SMTPNotSupportedError as exc:
            return SendResult(SendOutcome.RETRY, f"relay lacks a required extension: {exc}")
        except smtplib.SMTPConnectError as exc:  # the greeting was a refusal (421, 554): try later
            return SendResult(SendOutcome.RETRY, f"{exc.smtp_code} {exc.smtp_error!r} (at connect)")
        except smtplib.SMTPResponseException as exc:  # e.g. a refused EHLO, a 421 mid-session
            return _code_result(exc.smtp_code, exc.smtp_error, "session")
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts, TLS
            return SendResult(SendOutcome.RETRY, f"SMTP relay unreachable: {type(exc).__name__}: {exc}")
        return SendResult(SendOutcome.DELIVERED, f"250 accepted {email['Message-ID']}")

    async def close(self) -> None:
        return None  # one SMTP session per send: nothing stays open
