"""What crosses the network from a Chromium page and its service worker, counted from their
DevTools Network events (bench/field.py's table; a browser test's byte bound)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


@dataclass
class Network:
    """Emulated conditions (0: as fast as the machine goes)."""

    latency_ms: float = 0
    down_kbit: float = 0
    up_kbit: float = 0


@dataclass
class Tally:
    down: int = 0  # bytes the page received
    worker: int = 0  # bytes its service worker received (pages, the shell it keeps)
    up: int = 0
    requests: int = 0
    uploads: list[int] = field(default_factory=list)  # multipart request bodies (photos)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(
            self.down - other.down,
            self.worker - other.worker,
            self.up - other.up,
            self.requests - other.requests,
            self.uploads[len(other.uploads) :],
        )


class Wire:
    """Counts what the page and its service worker send and receive, from their DevTools
    Network events, and sets the emulated network on both. A service worker is a target of
    its own: it is attached through the browser's session (Target.attachToTarget, messages
    wrapped in Target.sendMessageToTarget) as soon as it is discovered; what it fetched before
    that (a few milliseconds after it starts) is not seen. What the worker fetches for the
    page (a URL the page asked for and is waiting for) counts as the page's; the rest (its
    shell, the pages it keeps) is counted apart."""

    def __init__(self, browser_cdp, page_cdp, origin: str, network: Network | None = None):
        self.network = network or Network()
        self.tally = Tally()
        self.urls: dict[tuple[str, str], str] = {}
        self.by_kind: dict[str, int] = {}
        self.browser, self.page, self.origin = browser_cdp, page_cdp, origin
        self.workers: list[str] = []  # session ids
        self.attached: set[str] = set()  # target ids
        self.for_page: dict[str, int] = {}  # URLs the page asked for and has not received
        self.heard: dict[tuple[str, str], int] = {}  # header bytes of responses under way
        self.offline = False
        self._id = 0
        for method in (
            "requestWillBeSent",
            "responseReceived",
            "loadingFinished",
            "loadingFailed",
            "requestWillBeSentExtraInfo",
        ):
            page_cdp.on(f"Network.{method}", lambda e, m=method: self._event("page", m, e))
        page_cdp.send("Network.enable")
        self._conditions(page_cdp.send)
        browser_cdp.on("Target.targetCreated", self._target)
        browser_cdp.on("Target.targetInfoChanged", self._target)
        browser_cdp.on("Target.receivedMessageFromTarget", self._message)
        browser_cdp.send("Target.setDiscoverTargets", {"discover": True})

    def _conditions(self, send) -> None:
        send(
            "Network.emulateNetworkConditions",
            {
                "offline": self.offline,
                "latency": self.network.latency_ms,
                "downloadThroughput": self.network.down_kbit * 1000 / 8 or -1,
                "uploadThroughput": self.network.up_kbit * 1000 / 8 or -1,
            },
        )

    def set_offline(self, offline: bool) -> None:
        self.offline = offline
        self._conditions(self.page.send)
        for session in self.workers:
            self._conditions(lambda method, params, s=session: self._send(s, method, params))

    def _send(self, session: str, method: str, params: dict) -> None:
        self._id += 1
        message = json.dumps({"id": self._id, "method": method, "params": params})
        self.browser.send("Target.sendMessageToTarget", {"sessionId": session, "message": message})

    def _target(self, event) -> None:
        info = event["targetInfo"]
        if info["type"] != "service_worker" or not info["url"].startswith(self.origin):
            return
        if info["targetId"] in self.attached:
            return
        self.attached.add(info["targetId"])
        session = self.browser.send(
            "Target.attachToTarget", {"targetId": info["targetId"], "flatten": False}
        )["sessionId"]
        self.workers.append(session)
        self._send(session, "Network.enable", {})
        self._conditions(lambda method, params: self._send(session, method, params))

    def _message(self, event) -> None:
        message = json.loads(event["message"])
        method = message.get("method", "")
        if method.startswith("Network."):
            self._event(event["sessionId"], method.removeprefix("Network."), message["params"])

    def _event(self, source: str, method: str, event: dict) -> None:
        key = (source, event.get("requestId", ""))
        if method == "requestWillBeSent":
            request = event["request"]
            self.urls[key] = (
                request["method"] + " " + re.sub(r"^https?://[^/]+", "", request["url"])
            )
            if source == "page":  # the worker may fetch it for the page: the page's bytes
                self.for_page[request["url"]] = self.for_page.get(request["url"], 0) + 1
        elif method == "responseReceived":
            self.heard[key] = event["response"].get("encodedDataLength", 0)  # its headers
        elif method in ("loadingFinished", "loadingFailed"):
            # A response dropped after its headers (a 304 the worker does not read) cost them.
            heard = self.heard.pop(key, 0)
            size = event["encodedDataLength"] if method == "loadingFinished" else heard
            url = self.urls.get(key, "? ?").split(" ", 1)[1]
            full = self.origin + url
            if source == "page" and self.for_page.get(full):
                self.for_page[full] -= 1
            if size <= 0:
                return  # from the browser's cache, or answered by the worker (counted there)
            if source == "page" or self.for_page.get(full):
                self.tally.down += size
            else:
                self.tally.worker += size
            self.tally.requests += 1
            kind = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "UUID", self.urls.get(key, "?"))
            kind = re.sub(r"\d+", "N", kind.split("?")[0])
            kind = ("(worker) " if source != "page" else "") + kind
            self.by_kind[kind] = self.by_kind.get(kind, 0) + size
        elif method == "requestWillBeSentExtraInfo":
            headers = {k.lower(): v for k, v in event.get("headers", {}).items()}
            body = int(headers.get("content-length", "0") or 0)
            self.tally.up += body + sum(len(k) + len(v) + 4 for k, v in headers.items())
            if headers.get("content-type", "").startswith("multipart/form-data"):
                self.tally.uploads.append(body)

    def snapshot(self) -> Tally:
        t = self.tally
        return Tally(t.down, t.worker, t.up, t.requests, list(t.uploads))
