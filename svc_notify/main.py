"""Composition root of svc_notify: the only module that knows the concrete adapters.

Uses CQL (notifications, devices, preferences, the delivery log), NATS (the event consumers
`notify-tweets` and `notify-graph`, the delivery work queues `deliver-apns|fcm|email` with their
dead-letter subject, and the live feed `notify.live.*`), svc_graph (actors' profiles, blocks and
mutes) and the delivery providers: APNs, FCM and an SMTP relay, whose endpoints and credentials
come from the TM_APNS_*, TM_FCM_* and TM_SMTP_* settings (svc_notify/adapters/provider_settings.py;
the local defaults are the simulators `make up` starts). Settings of its own, from the environment:

  TM_NOTIFY_CONSUMER_CONCURRENCY   events handled at once per event consumer (8)
  TM_NOTIFY_DELIVERY_CONCURRENCY   sends in flight at once per channel (16)
  TM_NOTIFY_RETRY_DELAYS_S         pauses between delivery attempts ("1,5,30,120,600"; one more
                                   attempt than pauses, then the dead-letter subject)
  TM_NOTIFY_HEARTBEAT_S            idle time before a stream gets a heartbeat (25)
  TM_NOTIFY_MAX_STREAMS_PER_USER   open streams per user and replica (5)

Run: python -m svc_notify.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh import events
from mesh.config import env_float, env_int, service_spec
from mesh.deps import Dependencies
from mesh.event_consumer import EventConsumer
from mesh.idempotency import RequestLog
from mesh.server import BackgroundJob, ServiceApp, main
from svc_notify import metrics
from svc_notify.adapters.apns import ApnsSender
from svc_notify.adapters.cql_delivery_log import CqlDeliveryLog
from svc_notify.adapters.cql_devices import CqlDeviceStore
from svc_notify.adapters.cql_notifications import CqlNotificationStore
from svc_notify.adapters.cql_preferences import CqlPreferenceStore
from svc_notify.adapters.fcm import FcmSender
from svc_notify.adapters.graph_directory import GrpcUserDirectory
from svc_notify.adapters.jetstream_delivery import DeliveryConsumer, JetStreamDeadLetters, JetStreamDeliveryQueue
from svc_notify.adapters.nats_live import NatsLiveFeed
from svc_notify.adapters.provider_settings import ApnsSettings, FcmSettings, SmtpSettings
from svc_notify.adapters.smtp_email import SmtpSender
from svc_notify.delivery import DeliveryWorker, retry_delays_from_env
from svc_notify.domain import Platform
from svc_notify.event_handlers import NotifyEvents
from svc_notify.grpc_api import NotificationServiceApi
from svc_notify.service import Devices, Inbox, LiveHub, LiveStreams, Notifier, Preferences
from tweetmesh.notify.v1 import notification_service_pb2_grpc

EVENT_DURABLES = ("notify-tweets", "notify-graph")


def _stream_of(durable: str) -> str:
    return next(spec.stream for spec in events.CONSUMERS if spec.durable == durable)


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    session, keyspace = deps.cql, deps.stack.cql_keyspace
    notifications = CqlNotificationStore(session, keyspace)
    devices = CqlDeviceStore(session, keyspace)
    preferences = CqlPreferenceStore(session, keyspace)
    users = GrpcUserDirectory(deps.peers["graph"])
    js = deps.nats.jetstream()
    live = NatsLiveFeed(deps.nats)
    hub = LiveHub(max_streams_per_user=env_int("TM_NOTIFY_MAX_STREAMS_PER_USER", 5))

    api = NotificationServiceApi(
        Inbox(notifications, users),
        LiveStreams(notifications, users, hub, heartbeat_s=env_float("TM_NOTIFY_HEARTBEAT_S", 25.0)),
        Devices(devices),
        Preferences(preferences),
        RequestLog(session, keyspace),
    )
    notification_service_pb2_grpc.add_NotificationServiceServicer_to_server(api, server)

    notifier = Notifier(notifications, preferences, devices, users, JetStreamDeliveryQueue(js), live)
    handlers = NotifyEvents(notifier)
    concurrency = env_int("TM_NOTIFY_CONSUMER_CONCURRENCY", 8)
    jobs = [
        EventConsumer(
            js, stream=_stream_of(durable), durable=durable, handle=handlers.handle, outcomes=metrics.EVENTS,
            concurrency=concurrency,
        ).as_job()
        for durable in EVENT_DURABLES
    ]
    jobs.append(live.listener(hub))

    dead = JetStreamDeadLetters(js)
    senders = {
        Platform.APNS: ApnsSender(ApnsSettings.from_env()),
        Platform.FCM: FcmSender(FcmSettings.from_env()),
        Platform.EMAIL: SmtpSender(SmtpSettings.from_env()),
    }
    delays = retry_delays_from_env()
    worker = DeliveryWorker(devices, CqlDeliveryLog(session, keyspace), senders, dead,
                            retry_delays_s=delays, max_attempts=len(delays) + 1)
    sends_in_flight = env_int("TM_NOTIFY_DELIVERY_CONCURRENCY", 16)
    # one consumer and one sender per channel: a stalled provider only holds up its own queue
    jobs += [
        DeliveryConsumer(js, platform=platform, worker=worker, nc=deps.nats, dead=dead,
                         concurrency=sends_in_flight).as_job()
        for platform in Platform
    ]
    return jobs


APP = ServiceApp(
    spec=service_spec("notify"),
    needs=frozenset({"cql", "nats"}),
    register=register,
    peers=frozenset({"graph"}),
)

if __name__ == "__main__":
    main(APP)
