"""Every user-facing string is translated into Welsh and Polish, and the catalogues compile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.i18n import DOMAINS, LANGUAGES, ROOT, TRANSLATIONS


def _ids(path: Path) -> set[str]:
    with path.open("rb") as f:
        return {str(m.id) for m in read_po(f) if m.id}


@pytest.mark.parametrize("domain", DOMAINS)
def test_template_is_current(domain: str, tmp_path: Path) -> None:
    """The .pot holds every marked string (run scripts/translations.sh if not)."""
    out = tmp_path / f"{domain}.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(TRANSLATIONS / "cfg" / f"{domain}.cfg"), "-k", "_l", "-k",
                    "lazy_gettext", "--ignore-dirs", ".* node_modules static instance",
                    "-o", str(out), "."], check=True, cwd=ROOT, capture_output=True)
    missing = _ids(out) - _ids(TRANSLATIONS / f"{domain}.pot")
    assert not missing, f"strings missing from {domain}.pot: {sorted(missing)}"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_complete(domain: str, lang: str) -> None:
    po = TRANSLATIONS / lang / "LC_MESSAGES" / f"{domain}.po"
    template = _ids(TRANSLATIONS / f"{domain}.pot")
    with po.open("rb") as f:
        catalogue = read_po(f)
    present = {str(m.id) for m in catalogue if m.id}
    assert template <= present, f"{lang}/{domain}: not merged: {sorted(template - present)}"
    untranslated = [m.id for m in catalogue if m.id and (
        not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"{lang}/{domain}: untranslated: {untranslated}"
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not fuzzy, f"{lang}/{domain}: fuzzy: {fuzzy}"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_compiles(domain: str, lang: str, tmp_path: Path) -> None:
    po = TRANSLATIONS / lang / "LC_MESSAGES" / f"{domain}.po"
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile",
                             "-i", str(po), "-o", str(tmp_path / "messages.mo"), "-l", lang],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()
