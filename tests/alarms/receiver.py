"""A real HTTP receiver on 127.0.0.1 for the actions' tests: it answers each POST with
the next of a script of statuses (or hangs), and keeps what it was sent."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web


class Receiver:
    def __init__(self, script: list[int | str]) -> None:
        self.script = list(script)  # statuses, or "hang"; the last one repeats
        self.bodies: list[Any] = []
        self.answered: list[int | str] = []
        self.url = ""
        self.release = asyncio.Event()
        self.changed = threading.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        what = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        with self.changed:
            self.answered.append(what)
            if what != "hang":
                self.bodies.append(body)
            self.changed.notify_all()
        if what == "hang":
            await self.release.wait()
            return web.Response(status=200)
        return web.json_response({}, status=int(what))

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.bodies) >= count, timeout)


@contextmanager
def receiving(script: list[int | str]) -> Iterator[Receiver]:
    receiver = Receiver(script)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, web.AppRunner] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        port = runner.addresses[0][1]
        receiver.url = f"http://127.0.0.1:{port}/hook"
        receiver.release = asyncio.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield receiver
    finally:
        loop.call_soon_threadsafe(receiver.release.set)

        async def stop() -> None:
            await holder["runner"].cleanup()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
