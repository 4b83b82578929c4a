"""Every user-facing string is translated into Welsh and Polish, and the catalogues compile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ["cy", "pl"]


def _catalogue(lang: str):  # type: ignore[no-untyped-def]
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


def test_template_is_current(tmp_path: Path) -> None:
    """The .pot holds every marked string in the code (run `make translations` if not)."""
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "_l", "-k", "lazy_gettext", "-o", str(out),
                    "--no-location", "portal", "consent", "sar", "templates"],
                   check=True, cwd=ROOT, capture_output=True)
    with open(out, "rb") as f:
        fresh = {m.id for m in read_po(f) if m.id}
    with open(ROOT / "translations" / "messages.pot", "rb") as f:
        kept = {m.id for m in read_po(f) if m.id}
    assert fresh <= kept, f"strings missing from messages.pot: {sorted(map(str, fresh - kept))}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_complete(lang: str) -> None:
    with open(ROOT / "translations" / "messages.pot", "rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    catalogue = _catalogue(lang)
    present = {m.id for m in catalogue if m.id}
    assert template <= present, f"{lang}: not merged: {sorted(map(str, template - present))}"
    untranslated = [m.id for m in catalogue if m.id and (
        not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"{lang}: untranslated: {untranslated}"
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not fuzzy, f"{lang}: fuzzy: {fuzzy}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_compiles(lang: str, tmp_path: Path) -> None:
    po = ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile",
                             "-i", str(po), "-o", str(tmp_path / "messages.mo"), "-l", lang],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()
