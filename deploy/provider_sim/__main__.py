"""Run the provider simulators: APNs, FCM, SMTP and the control API, in one asyncio loop.

The control API listens last, so its /health answering means every simulator is listening.
SIGTERM or SIGINT stops all of them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

from aiohttp import web
from aiosmtpd.smtp import SMTP
from hypercorn.asyncio import serve
from hypercorn.config import Config

from deploy.provider_sim.apns import ApnsAccount, ApnsSim
from deploy.provider_sim.control import control_app
from deploy.provider_sim.fcm import FcmSim, GoogleAccount
from deploy.provider_sim.smtp import SmtpSim
from deploy.provider_sim.state import SimState
from deploy.secrets import ensure_provider_secrets
from mesh import logs
from mesh.config import Stack

log = logging.getLogger("provider_sim")


def _https_config(stack: Stack, port: int, certfile: str, keyfile: str, alpn: list[str]) -> Config:
    config = Config()
    config.bind = [f"{stack.host}:{port}"]
    config.certfile, config.keyfile = certfile, keyfile
    config.alpn_protocols = alpn
    config.accesslog = None
    config.errorlog = logging.getLogger("provider_sim.hypercorn")
    config.keep_alive_timeout = 3600  # APNs keeps idle provider connections open for long
    return config


async def run(stack: Stack) -> None:
    files = ensure_provider_secrets(stack)
    state = SimState()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    cert, key = str(files.server_cert), str(files.server_key)
    apns = ApnsSim(ApnsAccount.from_file(files.apns_key_info), state)
    fcm = FcmSim(GoogleAccount.from_file(files.fcm_service_account), state)
    servers = [
        asyncio.create_task(serve(apns, _https_config(stack, stack.apns_sim_port, cert, key, ["h2"]),
                                  shutdown_trigger=stop.wait, mode="asgi")),
        asyncio.create_task(serve(fcm, _https_config(stack, stack.fcm_sim_port, cert, key, ["h2", "http/1.1"]),
                                  shutdown_trigger=stop.wait, mode="asgi")),
    ]

    smtp_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    smtp_tls.load_cert_chain(cert, key)
    handler = SmtpSim(state)
    smtp_server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp.provider-sim.local", tls_context=smtp_tls, loop=loop),
        stack.host, stack.smtp_sim_port,
    )
    await _wait_listening(stack.host, (stack.apns_sim_port, stack.fcm_sim_port), servers)

    runner = web.AppRunner(control_app(state), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, stack.host, stack.provider_sim_control_port).start()
    log.info("provider simulators up", extra={
        "apns": stack.apns_sim_url, "fcm": stack.fcm_sim_url, "smtp": f"{stack.host}:{stack.smtp_sim_port}",
        "control": stack.provider_sim_control_url,
    })

    await stop.wait()
    log.info("stopping")
    await runner.cleanup()
    smtp_server.close()
    await smtp_server.wait_closed()
    await asyncio.gather(*servers, return_exceptions=True)


async def _wait_listening(host: str, ports: tuple[int, ...], servers: list[asyncio.Task]) -> None:
    for port in ports:
        for _ in range(200):
            for task in servers:
                if task.done():
                    task.result()  # a server that failed to bind: raise its error
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        else:
            raise RuntimeError(f"nothing listens on {host}:{port}")


def main() -> None:
    logs.setup("provider_sim")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per SMTP command
    asyncio.run(run(Stack()))


if __name__ == "__main__":
    main()
