"""The gRPC face of svc_notify: proto <-> domain, nothing else.

The call pipeline (mesh/interceptors.py) has already validated every request against the proto's
rules, set the caller from the gateway's header, and maps the domain errors to statuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import TypeVar

from google.protobuf.message import Message

from mesh.api import caller_id, optional_id, parse_id, to_timestamp
from mesh.idempotency import AnswerLog, once
from svc_notify.domain import Channel, Device, Kind, Platform, Preference
from svc_notify.messages import notification_to_proto
from svc_notify.service import Devices, Inbox, LiveStreams, Preferences
from tweetmesh.notify.v1 import notification_pb2
from tweetmesh.notify.v1 import notification_service_pb2 as pb
from tweetmesh.notify.v1 import notification_service_pb2_grpc

_SERVICE = "tweetmesh.notify.v1.NotificationService"
M = TypeVar("M", bound=Message)


def _device(device: Device) -> notification_pb2.Device:
    return notification_pb2.Device(
        device_id=str(device.device_id),
        platform=int(device.platform),
        label=device.label,
        address_hint=device.address_hint,
        create_time=to_timestamp(device.create_time),
    )


def _preference(preference: Preference) -> notification_pb2.NotificationPreference:
    return notification_pb2.NotificationPreference(
        kind=int(preference.kind), channel=int(preference.channel), enabled=preference.enabled
    )


_TARGETS = {"apns_token": Platform.APNS, "fcm_token": Platform.FCM, "email": Platform.EMAIL}


class NotificationServiceApi(notification_service_pb2_grpc.NotificationServiceServicer):
    def __init__(self, inbox: Inbox, streams: LiveStreams, devices: Devices, preferences: Preferences, answers: AnswerLog):
        self._inbox = inbox
        self._streams = streams
        self._devices = devices
        self._preferences = preferences
        self._answers = answers

    async def _once(
        self, method: str, request_id: str, caller: int | None, response_type: type[M], compute: Callable[[], Awaitable[M]]
    ) -> M:
        return await once(self._answers, f"/{_SERVICE}/{method}", request_id, str(caller or ""), response_type, compute)

    # --- notifications ------------------------------------------------------------------------

    async def ListNotifications(self, request: pb.ListNotificationsRequest, ctx) -> pb.ListNotificationsResponse:
        page = await self._inbox.list(caller_id(), request.page_size, request.page_token, unread_only=request.unread_only)
        return pb.ListNotificationsResponse(
            notifications=[notification_to_proto(n, page.actors.get(n.actor_id)) for n in page.notifications],
            next_page_token=page.next_page_token,
        )

    async def GetUnreadCount(self, request: pb.GetUnreadCountRequest, ctx) -> pb.GetUnreadCountResponse:
        return pb.GetUnreadCountResponse(unread_count=await self._inbox.unread_count(caller_id()))

    async def MarkNotificationsRead(self, request: pb.MarkNotificationsReadRequest, ctx) -> pb.MarkNotificationsReadResponse:
        unread = await self._inbox.mark_read(
            caller_id(),
            [parse_id(f"notification_ids[{i}]", text) for i, text in enumerate(request.notification_ids)],
            optional_id("through_notification_id", request.through_notification_id),
        )
        return pb.MarkNotificationsReadResponse(unread_count=unread)

    async def StreamNotifications(
        self, request: pb.StreamNotificationsRequest, ctx
    ) -> AsyncIterator[pb.StreamNotificationsResponse]:
        after = optional_id("after_notification_id", request.after_notification_id)
        async for item in self._streams.stream(caller_id(), after):
            if item.notification is None:
                heartbeat = pb.StreamNotificationsResponse.Heartbeat(send_time=to_timestamp(datetime.now(timezone.utc)))
                yield pb.StreamNotificationsResponse(heartbeat=heartbeat, unread_count=item.unread_count)
            else:
                yield pb.StreamNotificationsResponse(
                    notification=notification_to_proto(item.notification, item.actor), unread_count=item.unread_count
                )

    # --- devices ------------------------------------------------------------------------------

    async def RegisterDevice(self, request: pb.RegisterDeviceRequest, ctx) -> pb.RegisterDeviceResponse:
        field = request.WhichOneof("target")
        caller = caller_id()

        async def register() -> pb.RegisterDeviceResponse:
            device = await self._devices.register(caller, _TARGETS[field], getattr(request, field), request.label)
            return pb.RegisterDeviceResponse(device_id=str(device.device_id), device=_device(device))

        return await self._once("RegisterDevice", request.request_id, caller, pb.RegisterDeviceResponse, register)

    async def UnregisterDevice(self, request: pb.UnregisterDeviceRequest, ctx) -> pb.UnregisterDeviceResponse:
        caller = caller_id()
        device_id = parse_id("device_id", request.device_id)

        async def unregister() -> pb.UnregisterDeviceResponse:
            await self._devices.unregister(caller, device_id)
            return pb.UnregisterDeviceResponse()

        return await self._once("UnregisterDevice", request.request_id, caller, pb.UnregisterDeviceResponse, unregister)

    async def ListDevices(self, request: pb.ListDevicesRequest, ctx) -> pb.ListDevicesResponse:
        devices, token = await self._devices.list(caller_id(), request.page_size, request.page_token)
        return pb.ListDevicesResponse(devices=[_device(d) for d in devices], next_page_token=token)

    # --- preferences --------------------------------------------------------------------------

    async def GetNotificationPreferences(
        self, request: pb.GetNotificationPreferencesRequest, ctx
    ) -> pb.GetNotificationPreferencesResponse:
        preferences = await self._preferences.get(caller_id())
        return pb.GetNotificationPreferencesResponse(preferences=[_preference(p) for p in preferences])

    async def UpdateNotificationPreferences(
        self, request: pb.UpdateNotificationPreferencesRequest, ctx
    ) -> pb.UpdateNotificationPreferencesResponse:
        changes = [Preference(Kind(p.kind), Channel(p.channel), p.enabled) for p in request.preferences]
        preferences = await self._preferences.update(caller_id(), changes)
        return pb.UpdateNotificationPreferencesResponse(preferences=[_preference(p) for p in preferences])
