#!/bin/sh
# persistd container entrypoint: runs the given command under `persistd run`, configured by
# environment only (PERSISTD_URL, PERSISTD_DBS, PERSISTD_DIRS, PERSISTD_FILES, ...; see README).
# Usage: ENTRYPOINT ["/opt/persistd/entrypoint.sh"] with the app as CMD, or entrypoint.sh <app> [args...]
set -eu

PERSISTD_HOME="${PERSISTD_HOME:-$(cd "$(dirname "$0")" && pwd)}"

# Prefer the node shipped inside /opt/persistd (so the directory can be copied into non-Node images).
if [ -x "$PERSISTD_HOME/node/bin/node" ]; then
  NODE="$PERSISTD_HOME/node/bin/node"
elif command -v node >/dev/null 2>&1; then
  NODE="$(command -v node)"
else
  echo "persistd: cannot find node: neither $PERSISTD_HOME/node/bin/node nor node on PATH" >&2
  echo "hint: copy the whole /opt/persistd directory from the persistd image, or install Node 22 or 24" >&2
  exit 127
fi

if [ "$#" -eq 0 ]; then
  echo "persistd: no app command given to the entrypoint" >&2
  echo "hint: set the app as the image's CMD, e.g. CMD [\"node\", \"server.js\"]" >&2
  exit 2
fi

exec "$NODE" "$PERSISTD_HOME/bin/persistd.js" run -- "$@"
