"""Page weight as DESIGN §7 counts it: a page's HTML and every stylesheet, script and font it
loads, images left out, in the bytes a browser that accepts gzip receives (and, beside it, the
bytes uncompressed). Used by ``python -m bench.pages`` and by the test suite."""

from __future__ import annotations

import gzip
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# A browser's request headers that matter here: it accepts gzip, as every browser does.
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br"}
LIMIT_BYTES = 100_000  # DESIGN §7: under 100 kB without images

# The pages DESIGN §7 holds to its targets: the public ones, and a signed-in person's own
# ({notice} is one of their notices).
PUBLIC_PAGES = ["/", "/help", "/staying-safe", "/exit-this-page", "/accessibility", "/privacy",
                "/cookies", "/account/register", "/account/sign-in", "/account/reset",
                "/account/check-your-email", "/account/signed-out",
                "/account/password-changed", "/sar/request", "/staff/sign-in"]
PERSONAL_PAGES = ["/my", "/my/consents", "/my/consents/{notice}",
                  "/my/consents/{notice}/withdraw", "/my/records", "/my/activity",
                  "/my/download", "/account/language", "/sar/mine"]

# What fetch returns: the status, the body as sent on the wire, and the response's headers.
Fetch = Callable[[str], tuple[int, bytes, Mapping[str, str]]]

_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]([^'"]+)['"]""")
_JS_IMPORT = re.compile(r"""(?:\bimport|\bfrom)\s*\(?\s*['"]([^'"]+)['"]""")
_FONTS = (".woff2", ".woff", ".ttf", ".otf", ".eot")


class _References(HTMLParser):
    """The stylesheets, scripts and fonts an HTML page asks the browser to load."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        rel = set((a.get("rel") or "").lower().split())
        if tag == "script" and a.get("src"):
            self.found.append(str(a["src"]))
        elif tag == "link" and a.get("href") and (
                "stylesheet" in rel or "modulepreload" in rel
                or ("preload" in rel and a.get("as") in ("style", "script", "font"))):
            self.found.append(str(a["href"]))


@dataclass
class Weight:
    """One page's weight: its HTML and each asset, as sent and uncompressed."""

    page: str
    status: int
    html_sent: int
    html_raw: int
    assets: dict[str, tuple[int, int]] = field(default_factory=dict)
    elsewhere: list[str] = field(default_factory=list)  # anything not served by the portal

    @property
    def sent(self) -> int:
        """Bytes a gzip-accepting browser receives for the page and its assets."""
        return self.html_sent + sum(s for s, _raw in self.assets.values())

    @property
    def raw(self) -> int:
        """The same, uncompressed."""
        return self.html_raw + sum(raw for _s, raw in self.assets.values())


def _body(sent: bytes, headers: Mapping[str, str]) -> bytes:
    encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "")
    return gzip.decompress(sent) if encoding.strip().lower() == "gzip" else sent


def _local(base: str, ref: str) -> str | None:
    """The path of a reference on the portal itself; None for another origin."""
    url = urlsplit(urljoin(f"http://portal.invalid{base}", ref))
    if url.scheme == "data":
        return ""
    if url.netloc != "portal.invalid":
        return None
    return posixpath.normpath(url.path) + (f"?{url.query}" if url.query else "")


def weigh(fetch: Fetch, page: str) -> Weight:
    """Fetch a page and everything it loads (images aside) once each, as a browser would."""
    status, sent, headers = fetch(page)
    html = _body(sent, headers)
    weight = Weight(page, status, len(sent), len(html))
    parser = _References()
    parser.feed(html.decode("utf-8", "replace"))
    queue = [(page, ref) for ref in parser.found]
    while queue:
        base, ref = queue.pop(0)
        path = _local(base, ref)
        if path is None:
            weight.elsewhere.append(ref)
            continue
        if not path or path in weight.assets:
            continue
        status, sent, headers = fetch(path)
        if status != 200:
            raise AssertionError(f"{page} loads {path}, which answered {status}")
        body = _body(sent, headers)
        weight.assets[path] = (len(sent), len(body))
        text = body.decode("utf-8", "replace")
        if path.endswith(".css"):
            queue += [(path, r) for r in _CSS_IMPORT.findall(text)]
            queue += [(path, r) for r in _CSS_URL.findall(text)
                      if urlsplit(r).path.lower().endswith(_FONTS)]
        elif path.endswith((".js", ".mjs")):
            queue += [(path, r) for r in _JS_IMPORT.findall(text)
                      if r.startswith(("/", "./", "../"))]
    return weight
