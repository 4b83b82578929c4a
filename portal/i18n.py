"""Translation domains: one catalogue per area, so that areas can grow independently."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
# Each domain has translations/cfg/<domain>.cfg (what to extract), translations/<domain>.pot
# and translations/<lang>/LC_MESSAGES/<domain>.po for every language.
DOMAINS = ("messages", "public", "staff", "sar")
LANGUAGES = ("cy", "pl")


def babel_settings() -> dict[str, str]:
    """Flask-Babel settings that load every domain's catalogue and merge them."""
    return {
        "BABEL_TRANSLATION_DIRECTORIES": ";".join([str(TRANSLATIONS)] * len(DOMAINS)),
        "BABEL_DOMAIN": ";".join(DOMAINS),
    }
