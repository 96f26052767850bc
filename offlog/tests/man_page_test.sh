#!/usr/bin/env bash
# docs/offlogd.8 renders without a groff warning, and documents every flag
# that `offlogd --help` lists.
set -euo pipefail
runfiles="${TEST_SRCDIR}/${TEST_WORKSPACE:-offlog}"
page="${runfiles}/docs/offlogd.8"
warnings="$(groff -man -ww -z "${page}" 2>&1)"
if [[ -n "${warnings}" ]]; then
  echo "FAIL: groff warns:"; echo "${warnings}"; exit 1
fi
text="$(groff -man -Tutf8 "${page}" 2>/dev/null | col -bx)"
for flag in $("${runfiles}/offlog/server/offlogd" --help |
              grep -oE -- '--[a-z-]+' | sort -u); do
  [[ "${text}" == *"${flag}"* ]] || { echo "FAIL: ${flag} undocumented"; exit 1; }
done
echo "PASS"
