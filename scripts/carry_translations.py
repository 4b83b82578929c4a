"""Fill untranslated entries from identical msgids already translated in another domain.

Usage: .venv/bin/python scripts/carry_translations.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.i18n import DOMAINS, LANGUAGES, TRANSLATIONS  # noqa: E402


def main() -> None:
    """Carry translations across domains, for every language."""
    for lang in LANGUAGES:
        paths = [TRANSLATIONS / lang / "LC_MESSAGES" / f"{d}.po" for d in DOMAINS]
        catalogues = {p: read_po(p.open("rb")) for p in paths if p.exists()}
        # Obsolete entries count too: a string that moved between domains keeps its words.
        known = {m.id: m.string for c in catalogues.values()
                 for m in [*c, *c.obsolete.values()] if m.id and m.string and not m.fuzzy}
        for path, catalogue in catalogues.items():
            changed = False
            for message in catalogue:
                if message.id and not message.string and message.id in known:
                    message.string = known[message.id]
                    changed = True
            if changed:
                with path.open("wb") as f:
                    write_po(f, catalogue, width=100)


if __name__ == "__main__":
    main()
