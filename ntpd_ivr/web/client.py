"""Who is asking, and over what: the client's address and whether the browser sees HTTPS.

Behind a reverse proxy every request comes from the proxy's address, so the address that
login limits count is the one the proxy reports (X-Forwarded-For, or RFC 7239 Forwarded).
Those headers are believed only from a configured proxy (web.trusted_proxies): anyone else
could write any address in them and so escape the limits, or pin them on someone else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Client:
    address: str  # the client's IP, as the limits and the audit trail name it
    secure: bool  # the browser reached us over HTTPS (here, or at a trusted proxy)


CLIENT: web.RequestKey[Client] = web.RequestKey("client", Client)


def _ip(text: str) -> IpAddress | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # an IPv4 address with a port
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_params(request: web.Request, name: str) -> list[str]:
    """The values of one parameter across RFC 7239 Forwarded elements, in order."""
    values = []
    for header in request.headers.getall("Forwarded", []):
        for element in header.split(","):
            for pair in element.split(";"):
                key, _, value = pair.partition("=")
                if key.strip().lower() == name:
                    values.append(value.strip().strip('"'))
    return values


class ProxyTrust:
    def __init__(self, proxies: Iterable[str] = ()) -> None:
        self.proxies = frozenset(ip for ip in map(_ip, proxies) if ip is not None)

    @classmethod
    def from_setting(cls, value: str) -> ProxyTrust:
        return cls(a for a in value.split(",") if a.strip())

    def _trusted(self, address: IpAddress | None) -> bool:
        return address is not None and address in self.proxies

    def client(self, request: web.Request) -> Client:
        peer_text = request.remote or "unknown"
        peer = _ip(peer_text)
        if not self._trusted(peer):
            return Client(str(peer) if peer else peer_text, request.secure)
        # The hops the proxies appended, nearest last; the first one from the right that is
        # not a trusted proxy is the client (what a client wrote further left is not).
        hops = [hop for header in request.headers.getall("X-Forwarded-For", [])
                for hop in header.split(",")] or _forwarded_params(request, "for")
        address = peer
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                break
            address = ip
            if not self._trusted(ip):
                break
        protos = ([p.strip().lower() for h in request.headers.getall("X-Forwarded-Proto", [])
                   for p in h.split(",")] or
                  [p.lower() for p in _forwarded_params(request, "proto")])
        secure = request.secure or (bool(protos) and protos[-1] == "https")
        return Client(str(address), secure)


def client_of(request: web.Request) -> Client:
    """Set by the middleware; a request that did not pass it (a test) gets the socket's."""
    return request.get(CLIENT) or Client(request.remote or "unknown", request.secure)


def cookie_name(request: web.Request, name: str) -> str:
    """`__Host-<name>` over HTTPS: the browser then only accepts the cookie if it is Secure,
    has Path=/ and no Domain, so a sibling host or a plain-HTTP page cannot plant it."""
    return f"__Host-{name}" if client_of(request).secure else name


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(cookie_name(request, name), value, max_age=max_age, path="/",
                        httponly=True, samesite="Strict", secure=client_of(request).secure)


def del_cookie(response: web.StreamResponse, request: web.Request, name: str) -> None:
    response.del_cookie(cookie_name(request, name), path="/",
                        secure=client_of(request).secure, httponly=True, samesite="Strict")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(trust: ProxyTrust) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def client_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[CLIENT] = trust.client(request)
        return await handler(request)

    return client_middleware
