#!/usr/bin/env bash
# `systemd-analyze verify` on deploy/offlog.service and deploy/offlog.socket,
# with ExecStart pointing at the built offlogd. verify exits 0 even for
# unknown keys or syscall groups (it only warns), so any output fails the
# test; a deliberately broken copy checks that the warnings do show.
#
# --man=no: Documentation=man:offlogd(8) is not installed here.
# --generators=no: no system generators in a container or sandbox.
# User=offlog need not exist: verify does not resolve users.
set -euo pipefail

runfiles="${TEST_SRCDIR}/${TEST_WORKSPACE:-offlog}"
offlogd="$(readlink -f "${runfiles}/offlog/server/offlogd")"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/units.XXXXXX")"

# Copies the units into $1, with ExecStart's binary replaced.
install_units() {
  mkdir -p "$1"
  cp "${runfiles}/deploy/offlog.socket" "$1/"
  sed "s|^ExecStart=/usr/local/bin/offlogd |ExecStart=${offlogd} |" \
    "${runfiles}/deploy/offlog.service" > "$1/offlog.service"
  grep -q "^ExecStart=${offlogd} " "$1/offlog.service" ||
    { echo "FAIL: ExecStart not rewritten"; exit 1; }
}

verify() {
  systemd-analyze verify --man=no --generators=no \
    "$1/offlog.socket" "$1/offlog.service" 2>&1
}

# offlogd runs as user offlog: the unit must confine clients (issue 11).
grep -q '^Environment="OFFLOG_ALLOW_DIRS=--allow-dir /var/log/offlog"$' \
  "${runfiles}/deploy/offlog.service" &&
  grep -q '^ExecStart=.* \$OFFLOG_ALLOW_DIRS$' \
    "${runfiles}/deploy/offlog.service" ||
  { echo "FAIL: offlog.service names no --allow-dir"; exit 1; }
echo "PASS: offlog.service confines clients to --allow-dir /var/log/offlog"

install_units "${work}/good"
if ! out="$(verify "${work}/good")" || [[ -n "${out}" ]]; then
  echo "FAIL: systemd-analyze verify complained:"
  echo "${out}"
  exit 1
fi
echo "PASS: systemd-analyze verify is silent on both units"

# The same check must catch a typo and a missing binary.
install_units "${work}/bad"
sed -i 's/^NoNewPrivileges=/NoNewPrivilegs=/' "${work}/bad/offlog.service"
out="$(verify "${work}/bad" || true)"
[[ "${out}" == *"Unknown key"* ]] ||
  { echo "FAIL: a misspelt key went unnoticed: ${out}"; exit 1; }
install_units "${work}/nobin"
sed -i "s|^ExecStart=${offlogd} |ExecStart=/nonexistent/offlogd |" \
  "${work}/nobin/offlog.service"
if out="$(verify "${work}/nobin")"; then
  echo "FAIL: a missing ExecStart binary went unnoticed: ${out}"
  exit 1
fi
echo "PASS: broken units are reported"
