"""The translation catalogue: one `messages` domain for the whole portal, kept with pybabel.

`make translations` extracts every marked string (babel.cfg) into translations/messages.pot,
merges it into translations/<lang>/LC_MESSAGES/messages.po and compiles the catalogues.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
LANGUAGES = ("cy", "pl")


def babel_settings() -> dict[str, str]:
    """Flask-Babel settings that load the portal's catalogue."""
    return {"BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS)}
