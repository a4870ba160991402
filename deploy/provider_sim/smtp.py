"""The SMTP simulator: an aiosmtpd handler that accepts and records mail, or refuses it as scripted."""

from __future__ import annotations

import asyncio
import time
from email import message_from_bytes, policy
from typing import Any

from deploy.provider_sim.state import SimState


class SmtpSim:
    """aiosmtpd handler hooks (handle_RCPT, handle_DATA)."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options: list[str]) -> str:
        scripted = self.state.smtp_scripts.next(address.lower())
        if scripted is not None:
            if scripted.get("delay_s"):
                await asyncio.sleep(float(scripted["delay_s"]))
            if "code" in scripted:
                code = int(scripted["code"])
                return f"{code} {scripted.get('message') or _default_text(code)}"
        if address.lower() in self.state.smtp_rejected:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        raw: bytes = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        record: dict[str, Any] = {
            "time": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "headers": {k: str(v) for k, v in parsed.items()},
            "message_id": str(parsed.get("Message-ID", "")),
            "subject": str(parsed.get("Subject", "")),
            "body": body.get_content() if body is not None else "",
            "tls": session.ssl is not None,
        }
        self.state.smtp_messages.append(record)
        return "250 2.0.0 Ok: queued"


def _default_text(code: int) -> str:
    return {
        421: "4.7.0 Service not available, closing transmission channel",
        450: "4.2.1 Mailbox temporarily unavailable",
        451: "4.3.0 Requested action aborted: local error in processing",
        452: "4.3.1 Insufficient system storage",
        550: "5.1.1 Mailbox unavailable",
        551: "5.1.6 User not local",
        552: "5.2.2 Mailbox full",
        553: "5.1.3 Mailbox name not allowed",
        554: "5.7.1 Transaction failed",
    }.get(code, "Scripted answer")
