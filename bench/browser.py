"""A small HTTP client for benchmarks and multi-process tests: a browser's cookie jar,
CSRF-protected forms, no redirects followed (nothing leaves 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Protocol


class HasPort(Protocol):
    """Anything served on 127.0.0.1 at a port (bench.check.Server)."""

    @property
    def port(self) -> int:
        """The port."""
        ...


@dataclass
class Response:
    """What an instance answered (redirects are not followed)."""

    status: int
    headers: dict[str, str]
    body: str
    sent: bytes = b""  # the body as it came over the wire (compressed, if it was)

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class Browser:
    """One person's browser: a cookie jar shared by every host it talks to, like a browser
    talking to two instances behind one name."""

    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, server: HasPort, method: str, path: str, *,
                form: dict[str, str] | None = None, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request with this browser's cookies and keep the ones it sets."""
        sent = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            data = raw.read()
            for header in raw.headers.get_all("Set-Cookie") or []:
                self._keep(header)
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()},
                            data.decode("utf-8", "replace"), data)
        finally:
            conn.close()

    def _keep(self, header: str) -> None:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            gone = morsel["max-age"] == "0" or "1970" in morsel["expires"] or not morsel.value
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value

    def get(self, server: HasPort, path: str, headers: dict[str, str] | None = None
            ) -> Response:
        """GET a page."""
        return self.request(server, "GET", path, headers=headers)

    def submit(self, server: HasPort, path: str, data: dict[str, str] | None = None,
               form_page: str | None = None) -> Response:
        """POST a form with the CSRF token taken from the page that holds it."""
        page = self.get(server, form_page or path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.body)
        assert match, f"no form on {form_page or path}: {page.status}"
        return self.request(server, "POST", path,
                            form={"csrf_token": match.group(1), **(data or {})})


