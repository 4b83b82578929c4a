#!/usr/bin/env bash
# Extract, update and compile every translation domain (see portal/i18n.py).
#   scripts/translations.sh          extract + update + compile
#   scripts/translations.sh compile  compile only
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DOMAINS=(messages public staff sar)
for d in "${DOMAINS[@]}"; do
  if [ "${1:-}" != "compile" ]; then
    "$BIN/pybabel" extract -F "translations/cfg/$d.cfg" -k _l -k lazy_gettext \
      --add-comments=Translators: --ignore-dirs=".* node_modules static instance" \
      --project consent-portal -o "translations/$d.pot" . >/dev/null
    for lang in cy pl; do
      po="translations/$lang/LC_MESSAGES/$d.po"
      if [ -f "$po" ]; then
        "$BIN/pybabel" update -D "$d" -i "translations/$d.pot" -d translations -l "$lang" --width 100 >/dev/null
      else
        "$BIN/pybabel" init -D "$d" -i "translations/$d.pot" -d translations -l "$lang" --width 100 >/dev/null
      fi
    done
  fi
  for lang in cy pl; do
    "$BIN/pybabel" compile -D "$d" -d translations -l "$lang" >/dev/null
  done
done
