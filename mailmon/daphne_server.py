"""daphne, refusing request bodies while they are still on the wire.

daphne (Twisted) reads a whole request body into memory or a temporary file before
it calls the application, so no ASGI middleware can stop a 300 MB anonymous POST
or a ``Content-Length: 10**12`` that never ends. This launcher runs daphne's own
command line with one change: each HTTP request applies
:func:`apps.core.body_limit.body_policy` as soon as its headers are in, answers
401/413 at once, discards whatever the client still sends and closes the connection.

    python -m mailmon.daphne_server -b 127.0.0.1 -p 8000 mailmon.asgi:application
"""

from __future__ import annotations

import os
import sys

from daphne import server as daphne_server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet import reactor

# Seconds a refused connection keeps reading (and dropping) what the client still sends,
# so that the client reads the answer instead of a connection reset (nginx: lingering close).
LINGER_SECONDS = 2.0


class LimitedWebRequest(WebRequest):
    _refused = False
    _limit: int | None = None
    _received = 0

    def gotLength(self, length):
        from apps.core.body_limit import Refusal, body_policy

        headers = {
            name.decode("latin1").lower(): b",".join(values).decode("latin1")
            for name, values in self.requestHeaders.getAllRawHeaders()
        }
        path = getattr(self.channel, "_path", b"/").decode("latin1")
        policy = body_policy(path, headers, length)
        if isinstance(policy, Refusal):
            self._refuse(policy)
            return
        self._limit = policy
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._received += len(data)
        if self._limit is not None and self._received > self._limit:
            from apps.core.body_limit import too_large

            self._refuse(too_large(self._limit))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self, refusal) -> None:
        self._refused = True
        self.content = None
        body = refusal.body()
        reason = {401: b"Unauthorized", 413: b"Content Too Large"}.get(refusal.status, b"Refused")
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (refusal.status, reason, len(body), body)
        )
        reactor.callLater(LINGER_SECONDS, transport.loseConnection)


class LimitedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = LimitedWebRequest
        return protocol


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")
    import django

    django.setup()
    daphne_server.HTTPFactory = LimitedHTTPFactory  # daphne's Server builds its factory from this name
    CommandLineInterface().run(sys.argv[1:])


if __name__ == "__main__":
    main()
