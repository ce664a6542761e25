#!/usr/bin/env bash
# Re-make flowpy/server/static/vendor/elkjs/ from the npm package elkjs (EPL-2.0): the
# bundled build the live view loads (no CDN, no JavaScript build step), its licence, and
# a README saying which version it is. Usage: tools/vendor-elkjs.sh [VERSION]
set -euo pipefail
version="${1:-0.12.2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/flowpy/server/static/vendor/elkjs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "elkjs@$version" >/dev/null && tar xzf elkjs-*.tgz)
mkdir -p "$dest"
cp "$work/package/lib/elk.bundled.js" "$dest/elk.bundled.js"
cp "$work/package/LICENSE.md" "$dest/LICENSE.md"
integrity="$(sha256sum "$dest/elk.bundled.js" | cut -d' ' -f1)"
cat > "$dest/README.md" <<README
# elkjs $version (vendored)

\`elk.bundled.js\` and \`LICENSE.md\` are copied unchanged from the npm package
[elkjs](https://www.npmjs.com/package/elkjs) $version (Eclipse Layout Kernel for
JavaScript, licensed under the Eclipse Public License 2.0, see LICENSE.md). The live view
(flowpy/server/static/view/) lays graphs out with its layered, port-aware algorithm.

Re-made by \`tools/vendor-elkjs.sh $version\`; sha256 of elk.bundled.js: $integrity
README
echo "vendored elkjs $version into $dest"
