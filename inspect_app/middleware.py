"""Pure ASGI middleware the app owns: trusted proxies, the CSRF layer, and the safety net that
gives a crash a proper 500 (with the security headers) and keeps dynamic answers out of caches.

Order, outermost first (main.create_app): TrustedProxies -> LocaleAndHeaders -> Revalidate ->
SafetyNet -> RequestGate -> Csrf -> the app. TrustedProxies runs first so that every layer sees
the real client and scheme.

Why our own CSRF layer rather than asgi-csrf: asgi-csrf signs a random cookie that is not tied to
the session (another user's token passed, and it survived sign-out and sign-in), it exempts any
request with an Authorization header (a cookie plus an empty `Bearer ` skipped the check), and it
parsed multipart bodies with a python-multipart API that no longer exists (we had to patch it, and
odd boundaries still gave a 500). Here the token is derived from the session cookie, bearer
requests skip the check only when their token is valid, Origin/Referer is checked, and the body is
read through python-multipart's own streaming parser, spooled to disk and handed on unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import tempfile
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import anyio
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import cookie_parser

from inspect_app import i18n
from inspect_app.security import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_token_for_session,
    is_anonymous_csrf_token,
    new_anonymous_csrf_token,
)

log = logging.getLogger("inspect_app")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        out[name] = f"{out[name]}; {value}" if name == "cookie" and name in out else value
    return out


async def send_json(send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- trusted proxies -----------------------------------------------------------------------------


def _is_trusted(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    return any(address in net for net in networks)


class TrustedProxies:
    """Believe X-Forwarded-For / -Proto / -Host only from a peer in the trusted networks.

    The client is the right-most X-Forwarded-For entry that is not itself a trusted proxy (entries
    to the left of it were written by whoever connected, so they prove nothing). The scheme and
    host are the last values the nearest proxy wrote. Default: no proxy is trusted, not even
    loopback; the server runs uvicorn with proxy_headers off so that this is the only place.
    """

    def __init__(self, app, networks: tuple[Network, ...]):
        self.app = app
        self.networks = networks

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and self.networks and scope.get("client"):
            peer = scope["client"][0]
            if _is_trusted(peer, self.networks):
                scope = self._apply(scope, peer)
        await self.app(scope, receive, send)

    def _apply(self, scope, peer: str):
        headers = _headers(scope)
        scope = dict(scope)
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        client = peer
        while hops:
            client = hops.pop()
            if not _is_trusted(client, self.networks):
                break
        scope["client"] = (client, 0)
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws"}.get(proto, "wss")
        host = headers.get("x-forwarded-host", "").split(",")[-1].strip()
        if host:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"] + [
                (b"host", host.encode("latin-1"))
            ]
        return scope


# --- the safety net: 500 with headers, no-store ----------------------------------------------------


class SafetyNet:
    """An unhandled exception becomes a 500 sent from inside the header middleware (Starlette's
    own error page is sent from outside every middleware, without our headers); the exception is
    re-raised afterwards so that the server logs it. Every dynamic response that does not choose
    its own caching is kept out of shared caches: JSON, PDFs and exports get `no-store`; pages get
    `private` (never stored by a proxy; the phone keeps its own work pages on purpose, in the
    service worker, and `no-store`/`no-cache` would also stop the browser restoring what was typed
    into a form when the page is reloaded offline)."""

    def __init__(self, app, is_static: Callable[[str], bool]):
        self.app = app
        self.is_static = is_static

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False
        static = self.is_static(scope["path"])

        async def send_wrapper(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if not static and b"cache-control" not in headers:
                    html = headers.get(b"content-type", b"").startswith(b"text/html")
                    policy = b"private" if html else b"no-store"  # see the docstring
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"cache-control", policy)],
                    }
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            if started:
                raise
            message = i18n.gettext("Something went wrong on the server. Try again in a moment.")
            accept = _headers(scope).get("accept", "")
            if "text/html" in accept and not scope["path"].startswith("/api/"):
                body = f"<!doctype html><meta charset=utf-8><title>500</title><p>{message}</p>"
                await send_wrapper(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body.encode())).encode()),
                        ],
                    }
                )
                await send_wrapper({"type": "http.response.body", "body": body.encode()})
            else:
                await send_json(send_wrapper, 500, message)
            raise


# --- pages answer If-None-Match ------------------------------------------------------------------


class Revalidate:
    """A full page (200 text/html to a GET) carries an ETag of its bytes and answers a matching
    If-None-Match with 304. The service worker re-checks the pages it keeps on the phone this way
    (an unchanged page costs its headers, not its body, on a slow network), and the browser does
    the same for pages it holds. The tag is of the bytes sent: a page that differs in anything
    (another user, another CSRF token, a fragment instead of the page) never matches."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        asked = {
            t.strip().removeprefix("W/")
            for t in _headers(scope).get("if-none-match", "").split(",")
        }
        start: dict | None = None
        chunks: list[bytes] = []

        async def send_wrapper(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                page = headers.get(b"content-type", b"").startswith(b"text/html")
                if message["status"] == 200 and page and b"etag" not in headers:
                    start = message  # held until the whole body is known
                    return
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                return await self._send_page(send, start, b"".join(chunks), asked)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    @staticmethod
    async def _send_page(send, start: dict, body: bytes, asked: set[str]) -> None:
        tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"etag", tag.encode()))
        if tag in asked:
            headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# --- the request gate -------------------------------------------------------------------------


class RequestGate:
    """Lets at most `limit` requests (not static files) work at once; the others wait here, in
    the event loop, holding neither a worker thread nor a database connection (db.requests_at_once
    says why that matters). One that waits longer than `wait_seconds` gets a 503 with
    Retry-After, which the phone's outbox retries, instead of a 500 from the pool's timeout.

    An upload (multipart) is let in once its body has arrived, not before: a photo from a phone
    on a slow link takes minutes, and twenty of them must not shut everyone else out. Until
    then it holds no connection either (deps.optional_user ends the sign-in lookup's
    transaction for it), so it cannot hold up the requests inside."""

    def __init__(self, app, limit: int, wait_seconds: float, is_static: Callable[[str], bool]):
        self.app = app
        self.slots = anyio.Semaphore(limit)
        self.wait_seconds = wait_seconds
        self.is_static = is_static

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.is_static(scope["path"]):
            return await self.app(scope, receive, send)
        if is_upload(_headers(scope)):
            return await self._after_body(scope, receive, send)
        let_in = False
        with anyio.move_on_after(self.wait_seconds):  # the wait only, never the request
            await self.slots.acquire()
            let_in = True
        if not let_in:
            message = i18n.gettext("The server is busy. Try again in a moment.")
            return await send_json(send, 503, message, [(b"retry-after", b"5")])
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release()

    async def _after_body(self, scope, receive, send):
        let_in = False

        async def receive_then_wait():
            nonlocal let_in
            message = await receive()
            last = message["type"] == "http.request" and not message.get("more_body", False)
            if last and not let_in:
                await self.slots.acquire()
                let_in = True
            return message

        try:
            await self.app(scope, receive_then_wait, send)
        finally:
            if let_in:
                self.slots.release()


def is_upload(headers: dict[str, str]) -> bool:
    return headers.get("content-type", "").lower().startswith("multipart/")


# --- CSRF ----------------------------------------------------------------------------------------


class BadBody(Exception):
    def __init__(self, status: int, detail: str):
        self.status, self.detail = status, detail


def _netloc(url_or_host: str, scheme: str | None = None) -> str:
    """host[:port] in lower case, without the scheme's default port."""
    if scheme is None:
        parts = urlsplit(url_or_host)
        scheme, netloc = parts.scheme, parts.netloc
    else:
        netloc = url_or_host
    netloc = netloc.lower().rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def same_origin(scope, headers: dict[str, str]) -> bool:
    """Origin (or, without it, Referer) names this host. Neither header: allowed (the token is
    still required); `Origin: null` (sandboxed or privacy-redirected) is not our page."""
    source = headers.get("origin") or headers.get("referer")
    if not source:
        return True
    if source.strip() == "null":
        return False
    host = headers.get("host", "")
    return bool(host) and _netloc(source) == _netloc(host, scope.get("scheme", "http"))


class Csrf:
    """The CSRF check for requests a browser could be tricked into sending.

    Protected: every unsafe method (not GET/HEAD/OPTIONS/TRACE) carrying a cookie, and the sign-in
    form always (login CSRF). A request is exempt only when it carries a *valid* bearer token
    (checked here, not merely present). The token comes from the `X-CSRFToken` header, or from the
    `csrftoken` field of an urlencoded or multipart form, and must equal the browser's token:
    with a session cookie, csrf_token_for_session(session); without one, the signed `csrftoken`
    cookie (double submit). Origin/Referer must name this host.

    The token is offered as request.scope["csrftoken"]() (templates: the form field, the
    `<meta name="csrf-token">`, hx-headers), as the `csrftoken` cookie, and as an `X-CSRFToken`
    response header on every answer to a signed-in browser. When a response sets or deletes the
    session cookie (sign-in, sign-out), the csrftoken cookie follows in the same response.
    """

    def __init__(
        self,
        app,
        *,
        secret: str,
        bearer_is_valid: Callable[[str], bool],
        always_secure: bool,
        max_body_bytes: int,
        always_protect: frozenset[str] = frozenset({"/login"}),
        exempt: frozenset[str] = frozenset({"/api/v1/auth/token"}),
    ):
        self.app = app
        self.secret = secret
        self.bearer_is_valid = bearer_is_valid
        self.always_secure = always_secure
        self.max_body_bytes = max_body_bytes
        self.always_protect = always_protect
        self.exempt = exempt

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        cookies = cookie_parser(headers.get("cookie", ""))
        session = cookies.get(SESSION_COOKIE) or None
        browser_cookie = cookies.get(CSRF_COOKIE)
        if session:
            expected = csrf_token_for_session(self.secret, session)
        elif is_anonymous_csrf_token(self.secret, browser_cookie):
            expected = browser_cookie
        else:
            expected = None  # made on first use: a response that never shows it sets no cookie
        state = {"token": expected, "used": False}

        def token() -> str:
            if state["token"] is None:
                state["token"] = new_anonymous_csrf_token(self.secret)
            state["used"] = True
            return state["token"]

        scope["csrftoken"] = token
        if await self._needs_check(scope, headers, cookies):
            if not same_origin(scope, headers):
                return await self._refuse(send)
            try:
                submitted, receive = await self._submitted_token(scope, headers, receive)
            except BadBody as exc:
                return await send_json(send, exc.status, exc.detail)
            if not (expected and submitted and hmac.compare_digest(submitted, expected)):
                return await self._refuse(send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                message = self._with_token(scope, message, session, browser_cookie, state, token)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _needs_check(self, scope, headers, cookies) -> bool:
        path = scope["path"]
        if scope["method"] in SAFE_METHODS or path in self.exempt:
            return False
        if not cookies and path not in self.always_protect:
            return False  # nothing ambient to abuse: no cookie, no session
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            valid = await anyio.to_thread.run_sync(self.bearer_is_valid, auth[7:].strip())
            return not valid
        return True

    async def _refuse(self, send) -> None:
        await send_json(
            send,
            403,
            i18n.gettext(
                "The form has expired or was not sent by this site. Reload the page and try again."
            ),
        )

    def _with_token(self, scope, message, session, browser_cookie, state, token):
        """Keep the csrftoken cookie (and the X-CSRFToken header) in step with the session."""
        headers = list(message.get("headers", []))
        new_session = _session_cookie_set(headers)
        if new_session is not None:  # sign-in sets a session, sign-out deletes it
            fresh = (
                csrf_token_for_session(self.secret, new_session)
                if new_session
                else new_anonymous_csrf_token(self.secret)
            )
        elif state["used"] or session:
            fresh = token()
        else:
            return message
        if new_session or (new_session is None and session):
            headers.append((b"x-csrftoken", fresh.encode()))
        if fresh != browser_cookie or new_session is not None:
            secure = self.always_secure or scope.get("scheme") == "https"
            cookie = f"{CSRF_COOKIE}={fresh}; Path=/; SameSite=Lax" + ("; Secure" if secure else "")
            headers.append((b"set-cookie", cookie.encode()))
        return {**message, "headers": headers}

    async def _submitted_token(self, scope, headers, receive):
        """(token or None, the receive the app must use: it replays what was read here)."""
        if headers.get(CSRF_HEADER):
            return headers[CSRF_HEADER], receive
        content_type, options = parse_options_header(headers.get("content-type", ""))
        if content_type == b"application/x-www-form-urlencoded":
            reader = _FormReader()
        elif content_type == b"multipart/form-data":
            boundary = options.get(b"boundary")
            if not boundary:
                raise BadBody(400, i18n.gettext("The form data has no multipart boundary."))
            reader = _MultipartReader(boundary)
        else:
            return None, receive
        spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
        size, more, tail = 0, True, []
        try:
            while more and reader.token is None:
                message = await receive()
                if message["type"] != "http.request":
                    tail.append(message)  # a disconnect: let the app see it
                    break
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise BadBody(413, i18n.gettext("The request body is too large."))
                spool.write(chunk)
                reader.feed(chunk, final=not more)
        except BadBody:
            spool.close()
            raise
        except (FormParserError, ValueError) as exc:
            spool.close()
            raise BadBody(400, i18n.gettext("The form data is malformed.")) from exc
        spool.seek(0)
        return reader.token, _replay(spool, more, tail, receive)


def _session_cookie_set(headers) -> str | None:
    """The value a response gives the session cookie ("" when it deletes it), else None."""
    prefix = f"{SESSION_COOKIE}=".encode()
    for name, value in headers:
        if name.lower() == b"set-cookie" and value.startswith(prefix):
            first = value.split(b";", 1)[0][len(prefix) :].strip(b'"')
            deleted = b"max-age=0" in value.lower().replace(b" ", b"")
            return "" if deleted or not first else first.decode("latin-1")
    return None


def _replay(spool, more: bool, tail: list, receive):
    """A receive() that first gives back the spooled body, then continues with the original."""
    done = False

    async def replay():
        nonlocal done
        if not done:
            chunk = spool.read(64 * 1024)
            rest = spool.read(1)
            if rest:
                spool.seek(-1, 1)
                return {"type": "http.request", "body": chunk, "more_body": True}
            done = True
            spool.close()
            return {"type": "http.request", "body": chunk, "more_body": more}
        if tail:
            return tail.pop(0)
        return await receive()

    return replay


class _FormReader:
    """Reads an urlencoded body (small by nature) and finds the csrftoken field when it ends."""

    LIMIT = 2 * 1024 * 1024

    def __init__(self):
        self.token = None
        self.body = bytearray()

    def feed(self, chunk: bytes, final: bool) -> None:
        self.body += chunk
        if len(self.body) > self.LIMIT:
            raise BadBody(413, i18n.gettext("The request body is too large."))
        if final:
            text = self.body.decode("latin-1")  # percent-escapes are ASCII; the rest is not ours
            fields = parse_qsl(text, keep_blank_values=True, errors="replace")
            self.token = next((v for k, v in fields if k == CSRF_COOKIE), "")


class _MultipartReader:
    """Streams a multipart body through python-multipart until the csrftoken field is complete;
    file contents are skipped, not kept (the body itself is spooled by the caller)."""

    def __init__(self, boundary: bytes):
        self.token: str | None = None
        self._name: bytes | None = None
        self._header = [b"", b""]
        self._headers: dict[bytes, bytes] = {}
        self._value = bytearray()
        self.parser = MultipartParser(
            boundary,
            {
                "on_header_field": lambda d, s, e: self._add(0, d[s:e]),
                "on_header_value": lambda d, s, e: self._add(1, d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._part_end,
            },
        )

    def _add(self, which: int, data: bytes) -> None:
        self._header[which] += data

    def _header_end(self) -> None:
        self._headers[self._header[0].lower()] = self._header[1]
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        is_file = b"filename" in options
        self._name = None if is_file else options.get(b"name")
        self._value = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._name == CSRF_COOKIE.encode() and len(self._value) < 4096:
            self._value += data[start:end]

    def _part_end(self) -> None:
        if self._name == CSRF_COOKIE.encode() and self.token is None:
            self.token = self._value.decode("latin-1")
        self._headers, self._name = {}, None

    def feed(self, chunk: bytes, final: bool) -> None:
        if chunk:
            self.parser.write(chunk)
        if final and self.token is None:
            self.token = ""
