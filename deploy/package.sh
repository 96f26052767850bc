#!/usr/bin/env bash
# Builds the offlog Debian package from Bazel's outputs:
#
#   deploy/package.sh [VERSION] [OUTDIR]
#
# VERSION defaults to deploy/VERSION, OUTDIR to the current directory; the
# package is OUTDIR/offlog_VERSION_ARCH.deb. Extra Bazel options (e.g.
# --config=...) go in OFFLOG_BAZEL_FLAGS (default -c opt; empty: none).
# Install it with `apt-get install ./offlog_VERSION_ARCH.deb`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:-$(cat "$repo/deploy/VERSION")}
outdir=$(mkdir -p "${2:-.}" && cd "${2:-.}" && pwd)
read -r -a flags <<<"${OFFLOG_BAZEL_FLAGS--c opt}"
targets=(//offlog/server:offlogd //offlog/ctl:offlogctl
  //offlog/client:offlog_tee)

cd "$repo"
# --symlink_prefix=/: leaves bazel-bin and friends pointing where they did.
bazel build "${flags[@]}" --symlink_prefix=/ "${targets[@]}"
output_path=$(bazel info "${flags[@]}" output_path 2>/dev/null)
files=()
for target in "${targets[@]}"; do
  # Bazel 4.2.3 has no --output=files; this is the same.
  file=$(bazel cquery "${flags[@]}" --output=starlark \
    --starlark:expr='"\n".join([f.path for f in target.files.to_list()])' \
    "$target" 2>/dev/null)
  file=$output_path/${file#bazel-out/}
  [[ -x "$file" ]] || { echo "package.sh: no binary for $target" >&2; exit 1; }
  files+=("$file")
done
out="$outdir/offlog_${version}_$(dpkg --print-architecture).deb"
"$repo/deploy/make_deb.sh" "$version" "$out" "${files[@]}" \
  "$repo/deploy" "$repo/docs"
echo "$out"
