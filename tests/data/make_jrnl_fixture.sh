#!/bin/sh
# Regenerate tests/data/jrnl_export.json from a REAL jrnl (4.x) export.
#
#   python3 -m venv /tmp/jrnlvenv && /tmp/jrnlvenv/bin/pip install 'jrnl>=4,<5'
#   JRNL=/tmp/jrnlvenv/bin/jrnl sh tests/data/make_jrnl_fixture.sh
#
# The journal lives in a temp folder with its own XDG_CONFIG_HOME (jrnl.yaml,
# encrypt: false), so nothing of the caller's jrnl set-up is read or changed.
# Entries are backdated with explicit dates and times; jrnl stores local wall
# time, so the export does not depend on the TZ of the machine that runs this.
set -eu
JRNL=${JRNL:-jrnl}
OUT=$(cd "$(dirname "$0")" && pwd)/jrnl_export.json
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/config/jrnl"
cat > "$WORK/config/jrnl/jrnl.yaml" <<YAML
colors:
  body: none
  date: none
  tags: none
  title: none
default_hour: 9
default_minute: 0
editor: ''
encrypt: false
highlight: false
indent_character: '|'
journals:
  default:
    journal: $WORK/journal.txt
linewrap: 79
tagsymbols: '#@'
template: false
timeformat: '%Y-%m-%d %H:%M'
version: v4.6
YAML
export XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" HOME="$WORK"
j() { "$JRNL" "$@" </dev/null >/dev/null 2>&1 || "$JRNL" "$@" </dev/null; }
j '2024-03-01 09:15: Started the new job today. Felt nervous but @work went fine. #career'
j '2024-03-01 21:40: *Best evening in months. Dinner with Ana, long walk by the river.'
printf '%s\n' '2024-03-02 07:05: Morning pages.' 'Line one of the body.' '' 'Line three after a blank line, with "quotes" & <angle> brackets.' \
  | "$JRNL" >/dev/null 2>&1
j '2024-03-03 23:59: Überlegungen: café, naïve façade — 日本語 and emoji 🙂 @café'
j '2024-03-04 12:00: Just a title.'
"$JRNL" --export json > "$OUT"
echo "wrote $OUT" >&2
