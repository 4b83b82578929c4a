"""Fill catalogue entries from a JSON file: {"msgid": {"cy": "...", "pl": "..."}, ...}.

Usage: .venv/bin/python scripts/fill_translations.py DOMAIN FILE.json
Only empty or fuzzy entries are filled; then run scripts/translations.sh compile.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def main(domain: str, table_path: str) -> None:
    """Fill the domain's cy and pl catalogues from the table."""
    table: dict[str, dict[str, str]] = json.loads(Path(table_path).read_text())
    for lang in ("cy", "pl"):
        path = ROOT / "translations" / lang / "LC_MESSAGES" / f"{domain}.po"
        with path.open("rb") as f:
            catalogue = read_po(f)
        for message in catalogue:
            entry = table.get(str(message.id)) if message.id else None
            if entry and lang in entry and (not message.string or message.fuzzy):
                message.string = entry[lang]
                message.flags.discard("fuzzy")
        with path.open("wb") as f:
            write_po(f, catalogue, width=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
