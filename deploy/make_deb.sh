#!/usr/bin/env bash
# Assembles the offlog .deb from already built binaries; deploy/package.sh
# (from Bazel labels) and //deploy:deb call it.
#
#   make_deb.sh VERSION OUT.deb OFFLOGD OFFLOGCTL OFFLOG_TEE DEPLOY_DIR DOCS_DIR
#
# DEPLOY_DIR holds the units, maintainer scripts and the rest of deploy/;
# DOCS_DIR holds offlogd.8 and OPERATIONS.md. Depends: is computed from the
# binaries' shared libraries (the Debian packages that ship them, at least
# the versions installed here). Needs dpkg-deb, dpkg-query, objdump, strip,
# gcc (for the multiarch directory).
set -euo pipefail

if (($# != 7)); then
  sed -n '2,/^set/p' "$0" | sed '$d' >&2
  exit 2
fi
version=$1 out=$2 offlogd=$3 offlogctl=$4 offlog_tee=$5 deploy=$6 docs=$7
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] ||
  { echo "make_deb.sh: bad version: $version" >&2; exit 2; }

root=$(mktemp -d "${TMPDIR:-/tmp}/offlog-deb.XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
umask 022

put() {  # put MODE SOURCE DESTINATION
  install -D -m "$1" "$2" "$root$3"
}
put 0755 "$offlogd" /usr/sbin/offlogd
put 0755 "$offlogctl" /usr/bin/offlogctl
put 0755 "$offlog_tee" /usr/bin/offlog_tee
strip --strip-unneeded "$root/usr/sbin/offlogd" "$root/usr/bin/offlogctl" \
  "$root/usr/bin/offlog_tee"

mkdir -p "$root/usr/share/man/man8"
gzip -9n <"$docs/offlogd.8" >"$root/usr/share/man/man8/offlogd.8.gz"
put 0644 "$docs/OPERATIONS.md" /usr/share/doc/offlog/OPERATIONS.md
put 0644 "$deploy/offlog-root-mode.conf" \
  /usr/share/doc/offlog/examples/root-mode.conf

# The packaged offlogd is /usr/sbin/offlogd; the unit in deploy/ names the
# by-hand install's /usr/local/bin/offlogd.
units=/lib/systemd/system
mkdir -p "$root$units"
sed 's|^ExecStart=/usr/local/bin/offlogd |ExecStart=/usr/sbin/offlogd |' \
  "$deploy/offlog.service" >"$root$units/offlog.service"
grep -q '^ExecStart=/usr/sbin/offlogd ' "$root$units/offlog.service" ||
  { echo "make_deb.sh: ExecStart not rewritten" >&2; exit 1; }
chmod 0644 "$root$units/offlog.service"
for unit in offlog.socket offlog-metrics.service offlog-metrics.timer; do
  put 0644 "$deploy/$unit" "$units/$unit"
done
put 0644 "$deploy/offlog.sysusers" /usr/lib/sysusers.d/offlog.conf
put 0755 "$deploy/offlog-metrics" /usr/lib/offlog/offlog-metrics
put 0644 "$deploy/offlog.logrotate" /etc/logrotate.d/offlog
put 0644 "$deploy/offlog-metrics.default" /etc/default/offlog-metrics

# Depends: the packages that ship each needed library, found with one
# dpkg-query over every library's name (Debian 12 ships them in /lib or
# /usr/lib, merged or not).
libs=$(objdump -p "$offlogd" "$offlogctl" "$offlog_tee" |
  awk '/NEEDED/ {print $2}' | sort -u)
multiarch=$(gcc -print-multiarch)  # x86_64-linux-gnu: not lib32's copies
patterns=()
for lib in $libs; do patterns+=("*/$multiarch/$lib"); done
owners=$(dpkg-query -S "${patterns[@]}" 2>/dev/null || true)
declare -A deps=()
for lib in $libs; do
  pkg=$(awk -v lib="$lib" '
    /^diversion/ {next}
    { n = split($NF, parts, "/"); if (parts[n] == lib) { sub(/:.*/, "", $1); print $1; exit } }
  ' <<<"$owners")
  [[ -n "$pkg" ]] || { echo "make_deb.sh: no package ships $lib" >&2; exit 1; }
  deps[$pkg]=$(dpkg-query -W -f='${Version}' "$pkg")
done
depends="init-system-helpers (>= 1.50)"
for pkg in $(printf '%s\n' "${!deps[@]}" | sort); do
  depends+=", $pkg (>= ${deps[$pkg]})"
done

mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOT
Package: offlog
Version: $version
Architecture: $(dpkg --print-architecture)
Maintainer: offlog developers <offlog@localhost>
Section: admin
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: logrotate
Suggests: prometheus-node-exporter
Description: non-blocking file-append server (C++ offlog)
 offlogd appends to files on behalf of clients that connect to its Unix
 socket (/run/offlog/offlog.sock, socket-activated), so that a slow or hung
 disk never blocks them. Includes offlogctl (status, Prometheus metrics,
 reopen), offlog_tee, the systemd units, a logrotate snippet and a timer
 that writes metrics for node_exporter's textfile collector.
EOT
printf '%s\n' /etc/logrotate.d/offlog /etc/default/offlog-metrics \
  >"$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$deploy/debian/$script" "$root/DEBIAN/$script"
done

dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
