"""Every user-facing string is translated into Welsh and Polish, and the catalogues compile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.i18n import LANGUAGES, ROOT, TRANSLATIONS

TEMPLATE = TRANSLATIONS / "messages.pot"


def _ids(path: Path) -> set[str]:
    with path.open("rb") as f:
        return {str(m.id) for m in read_po(f) if m.id}


def test_template_is_current(tmp_path: Path) -> None:
    """The .pot holds every marked string (run `make translations` if not)."""
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "_l", "-k", "lazy_gettext",
                    "--ignore-dirs", ".* node_modules static instance", "-o", str(out), "."],
                   check=True, cwd=ROOT, capture_output=True)
    missing = _ids(out) - _ids(TEMPLATE)
    assert not missing, f"strings missing from messages.pot: {sorted(missing)}"


def test_one_catalogue() -> None:
    """One translation domain: no other catalogue waits beside it to be merged at run time."""
    assert sorted(p.name for p in TRANSLATIONS.glob("*.pot")) == ["messages.pot"]
    for lang in LANGUAGES:
        assert sorted(p.name for p in (TRANSLATIONS / lang / "LC_MESSAGES").glob("*.po")) == \
            ["messages.po"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_complete(lang: str) -> None:
    po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    template = _ids(TEMPLATE)
    with po.open("rb") as f:
        catalogue = read_po(f)
    present = {str(m.id) for m in catalogue if m.id}
    assert template <= present, f"{lang}: not merged: {sorted(template - present)}"
    untranslated = [m.id for m in catalogue if m.id and (
        not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"{lang}: untranslated: {untranslated}"
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not fuzzy, f"{lang}: fuzzy: {fuzzy}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_compiles(lang: str, tmp_path: Path) -> None:
    po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile",
                             "-i", str(po), "-o", str(tmp_path / "messages.mo"), "-l", lang],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()
