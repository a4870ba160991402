"""Password hashing with argon2id (argon2-cffi), off the event loop.

One hash or verification costs tens of milliseconds of CPU and 64 MiB of memory (the library's
RFC 9106 defaults). It runs in a worker thread (argon2-cffi releases the GIL), so the event loop
keeps serving other calls meanwhile, and at most `max_parallel` run at once, so a burst of
log-ins queues instead of exhausting memory and the default thread pool.
"""

from __future__ import annotations

import asyncio
import os

import argon2
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2PasswordHasher:
    def __init__(self, hasher: argon2.PasswordHasher | None = None, *, max_parallel: int | None = None):
        self._hasher = hasher or argon2.PasswordHasher()  # argon2id
        self._slots = asyncio.Semaphore(max_parallel or os.cpu_count() or 2)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        # the comparison inside argon2 is constant-time
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):  # wrong password (VerifyMismatchError), bad hash
            return False
