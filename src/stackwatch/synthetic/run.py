"""One synthetic run: authenticate, sweep, the transactions step by step, sweep.

Order: ``token``; a sweep of what earlier runs left (``<prefix>-``); the image
uploaded and active; a server booted from it (or from ``boot_image``), ACTIVE and
deleted; the image deleted; a volume created, available and deleted; a floating IP
allocated and released; a last sweep of the prefix. A step that fails stops the rest
of its transaction, except its delete, which runs whenever something was made.
One run at a time per cloud and prefix on this machine (a lock file): two runs would
sweep each other's resources. A killed run's lock goes with its process.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stackwatch.config import SyntheticConfig
from stackwatch.errors import SourceUnavailable, StepFailed
from stackwatch.synthetic.api import Api, connect
from stackwatch.synthetic.cleanup import sweep
from stackwatch.synthetic.steps import DELETES, STEPS, RunResult, StepResult

#: nova microversion of the boot: ``networks`` may be ``none`` or ``auto`` (2.37)
BOOT_MICROVERSION = "2.37"


def lock_path(config: SyntheticConfig) -> Path:
    """The lock file of runs of this cloud and prefix on this machine."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", config.cloud)
    return Path(tempfile.gettempdir()) / f"stackwatch-synthetic-{safe}-{config.prefix}.lock"


@contextlib.contextmanager
def run_lock(config: SyntheticConfig) -> Iterator[None]:
    """Hold the lock for one run; SourceUnavailable when another run holds it."""
    path = lock_path(config)
    with open(path, "a+", encoding="ascii") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise SourceUnavailable(f"another synthetic run (pid {holder}) holds {path}") \
                from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_run_id() -> str:
    """Eight lower-case characters, unique enough between runs of one project."""
    return base64.b32encode(secrets.token_bytes(5)).decode().lower()


def run_synthetic(config: SyntheticConfig, connection: Any = None,
                  on_step: Callable[[StepResult], None] | None = None) -> RunResult:
    """One run under the lock, with a connection of its own (closed after)."""
    with run_lock(config):
        api = Api(connection if connection is not None else connect(config))
        try:
            return Transactions(config, api, on_step=on_step).run()
        finally:
            api.close()


class Transactions:
    """The steps of one run over one authenticated :class:`Api`."""

    def __init__(self, config: SyntheticConfig, api: Api, run_id: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 on_step: Callable[[StepResult], None] | None = None) -> None:
        self.config = config
        self.api = api
        self.run_id = run_id or new_run_id()
        self.clock = clock
        self.sleep = sleep
        self.on_step = on_step
        self.project = ""
        self.results: dict[str, StepResult] = {}
        self.made: dict[str, str] = {}  # transaction -> id of what it made

    def name(self, kind: str) -> str:
        return f"{self.config.prefix}-{self.run_id}-{kind}"

    # ------------------------------------------------------------------ the run

    def run(self) -> RunResult:
        started, t0 = time.time(), self.clock()
        earlier: tuple[str, ...] = ()
        left: tuple[str, ...] = ()
        if self.step("token", self._token):
            prefix = self.config.prefix + "-"
            first = sweep(self.api, self.project, prefix, self.config.wait_timeout,
                          self.config.poll, self.clock, self.sleep)
            earlier = first.found
            wanted = set(self.config.transactions)
            plan = [("image", "image_upload"), ("image", "image_active"),
                    ("server", "server_boot"), ("server", "server_active"),
                    ("server", "server_delete"), ("image", "image_delete"),
                    ("volume", "volume_create"), ("volume", "volume_available"),
                    ("volume", "volume_delete"), ("floating_ip", "floating_ip_create"),
                    ("floating_ip", "floating_ip_delete")]
            for transaction, step in plan:
                if transaction in wanted:
                    self.step(step, getattr(self, "_" + step))
            left = sweep(self.api, self.project, prefix, self.config.wait_timeout,
                         self.config.poll, self.clock, self.sleep).left
        else:
            for step in STEPS:
                if step != "token" and STEPS[step].transaction in self.config.transactions:
                    self._record(StepResult(step, None, 0.0, "not run: token failed"))
        ordered = tuple(self.results[s] for s in STEPS if s in self.results)
        return RunResult(self.run_id, started, self.clock() - t0, ordered, earlier, left)

    def step(self, step: str, action: Callable[[], None]) -> bool:
        """Run one step, timed, unless what it needs failed; True when it succeeded."""
        blocker = self._blocker(step)
        if blocker:
            self._record(StepResult(step, None, 0.0, f"not run: {blocker}"))
            return False
        t0 = self.clock()
        try:
            action()
        except StepFailed as exc:
            self._record(StepResult(step, False, self.clock() - t0, exc.reason))
            return False
        seconds = self.clock() - t0
        self._record(StepResult(step, True, seconds,
                                f"{STEPS[step].what} in {seconds:.2f}s"))
        return True

    def _record(self, result: StepResult) -> None:
        self.results[result.step] = result
        if self.on_step is not None:
            self.on_step(result)

    def _blocker(self, step: str) -> str:
        """Why ``step`` cannot run ('' when it can)."""
        transaction = STEPS[step].transaction
        if step in DELETES:
            return "" if transaction in self.made else "nothing was made to delete"
        for done in self.results.values():
            if done.transaction == transaction and done.ok is not True:
                return f"{done.step} failed" if done.ok is False else done.message
        if step == "server_boot" and not self.config.boot_image:
            image = self.results.get("image_active")
            if image is None or not image.ok:
                return "no image to boot (image_active did not succeed; or set boot_image)"
        return ""

    def wait(self, step: str, what: str, probe: Callable[[], tuple[str, str]],
             want: str, bad: tuple[str, ...]) -> None:
        """Poll ``probe`` (status, detail) until ``want``; fail on ``bad`` or timeout.
        Status ``gone`` is a 404."""
        deadline = self.clock() + self.config.wait_timeout
        while True:
            status, detail = probe()
            if status == want:
                return
            if status in bad:
                raise StepFailed(step, f"{what} is {status}" + (f": {detail}" if detail else ""))
            if self.clock() >= deadline:
                raise StepFailed(step, f"{what} still {status} after "
                                       f"{self.config.wait_timeout:.0f}s")
            self.sleep(self.config.poll)

    def _status(self, step: str, service: str, path: str, key: str | None,
                detail: Callable[[dict[str, Any]], str] = lambda body: "") -> tuple[str, str]:
        response = self.api.call(step, service, "GET", path, ok=(200, 404))
        if response.status_code == 404:
            return "gone", ""
        try:
            body = response.json()
        except ValueError:
            raise StepFailed(step, f"GET {service} {path}: answer is not JSON") from None
        if key is not None:
            body = body.get(key) or {}
        return str(body.get("status", "?")), detail(body)

    # ------------------------------------------------------------------ steps

    def _token(self) -> None:
        self.project = self.api.authenticate()

    def _image_upload(self) -> None:
        body = self.api.json("image_upload", "image", "POST", "/images", ok=(201,), json={
            "name": self.name("image"), "disk_format": "raw", "container_format": "bare",
            "visibility": "private"})
        self.made["image"] = str(body["id"])
        self.api.call("image_upload", "image", "PUT", f"/images/{body['id']}/file",
                      ok=(204,), data=os.urandom(self.config.image_bytes),
                      headers={"Content-Type": "application/octet-stream"})

    def _image_active(self) -> None:
        path = f"/images/{self.made['image']}"
        self.wait("image_active", "the image", lambda: self._status(
            "image_active", "image", path, None),
            "active", ("killed", "deleted", "deactivated", "gone"))

    def _image_delete(self) -> None:
        path = f"/images/{self.made.pop('image')}"
        self.api.call("image_delete", "image", "DELETE", path, ok=(204,))
        self.wait("image_delete", "the image", lambda: self._status(
            "image_delete", "image", path, None), "gone", ())

    def _lookup(self, step: str, service: str, path: str, key: str, wanted: str) -> str:
        """The id of the item of a listing whose id or name is ``wanted``."""
        rows = self.api.json(step, service, "GET", path).get(key) or []
        for row in rows:
            if wanted in (row.get("id"), row.get("name")):
                return str(row["id"])
        raise StepFailed(step, f"no {key.rstrip('s')} {wanted!r} ({path})")

    def _server_boot(self) -> None:
        config = self.config
        flavor = self._lookup("server_boot", "compute", "/flavors", "flavors", config.flavor)
        image = self.made.get("image", "")
        if config.boot_image:
            image = self._lookup("server_boot", "image", "/images?limit=1000", "images",
                                 config.boot_image)
        networks: Any = config.network
        if config.network not in ("none", "auto"):
            networks = [{"uuid": self._lookup("server_boot", "network", "/networks",
                                              "networks", config.network)}]
        body = self.api.json("server_boot", "compute", "POST", "/servers", ok=(202,),
                             microversion=BOOT_MICROVERSION, json={"server": {
                                 "name": self.name("server"), "flavorRef": flavor,
                                 "imageRef": image, "networks": networks}})
        self.made["server"] = str(body["server"]["id"])

    def _server_active(self) -> None:
        path = f"/servers/{self.made['server']}"

        def fault(server: dict[str, Any]) -> str:
            found = server.get("fault") or {}
            return str(found.get("message", "")) if isinstance(found, dict) else ""

        self.wait("server_active", "the server", lambda: self._status(
            "server_active", "compute", path, "server", fault),
            "ACTIVE", ("ERROR", "DELETED", "SHUTOFF", "gone"))

    def _server_delete(self) -> None:
        path = f"/servers/{self.made.pop('server')}"
        self.api.call("server_delete", "compute", "DELETE", path, ok=(204,))
        self.wait("server_delete", "the server", lambda: self._status(
            "server_delete", "compute", path, "server"), "gone", ("ERROR",))

    def _volume_create(self) -> None:
        spec: dict[str, Any] = {"name": self.name("volume"), "size": self.config.volume_size}
        if self.config.volume_type:
            spec["volume_type"] = self.config.volume_type
        body = self.api.json("volume_create", "volume", "POST", "/volumes", ok=(202,),
                             json={"volume": spec})
        self.made["volume"] = str(body["volume"]["id"])

    def _volume_available(self) -> None:
        path = f"/volumes/{self.made['volume']}"
        self.wait("volume_available", "the volume", lambda: self._status(
            "volume_available", "volume", path, "volume"),
            "available", ("error", "gone"))

    def _volume_delete(self) -> None:
        path = f"/volumes/{self.made.pop('volume')}"
        self.api.call("volume_delete", "volume", "DELETE", path, ok=(202,))
        self.wait("volume_delete", "the volume", lambda: self._status(
            "volume_delete", "volume", path, "volume"), "gone", ("error_deleting",))

    def _floating_ip_create(self) -> None:
        wanted = self.config.floating_network
        if wanted:
            network = self._lookup("floating_ip_create", "network",
                                   "/networks?router:external=true", "networks", wanted)
        else:
            rows = self.api.json("floating_ip_create", "network", "GET",
                                 "/networks?router:external=true").get("networks") or []
            if not rows:
                raise StepFailed("floating_ip_create", "no external network (set "
                                                       "synthetic.floating_network)")
            network = str(rows[0]["id"])
        body = self.api.json("floating_ip_create", "network", "POST", "/floatingips",
                             ok=(201,), json={"floatingip": {
                                 "floating_network_id": network,
                                 "description": self.name("floating-ip")}})
        self.made["floating_ip"] = str(body["floatingip"]["id"])

    def _floating_ip_delete(self) -> None:
        path = f"/floatingips/{self.made.pop('floating_ip')}"
        self.api.call("floating_ip_delete", "network", "DELETE", path, ok=(204,))
        self.wait("floating_ip_delete", "the floating IP", lambda: self._status(
            "floating_ip_delete", "network", path, "floatingip"), "gone", ())
