#!/bin/sh
# Checks the unit files in this directory:
#   1. `systemd-analyze verify` finds nothing to complain about (syntax, unknown
#      settings, bad values) in any of them;
#   2. `systemd-analyze security --offline=true` rates each service's exposure at
#      MAX_EXPOSURE or lower (0 = locked down, 10 = unprotected; default 2.0).
# Exits non-zero, naming the unit, if either fails. Needs systemd-analyze >= 250;
# does not need a running systemd, so it works in CI containers.
#
# Usage: systemd/check-units.sh            (from anywhere)
#        MAX_EXPOSURE=1.5 systemd/check-units.sh
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
max=${MAX_EXPOSURE:-2.0}
binary=/usr/local/bin/costsync
units="costsync.service costsync-once.service costsync-once.timer"
services="costsync.service costsync-once.service"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "check-units: systemd-analyze not found (Debian: apt-get install systemd)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# verify refuses a unit whose ExecStart= binary is missing. Where costsync is not
# installed (CI, a laptop), check copies whose ExecStart= points at a stand-in
# executable instead; nothing outside the temporary directory is touched.
if [ -x "$binary" ]; then
    verify_dir=$dir
else
    verify_dir=$work
    printf '#!/bin/sh\nexit 0\n' > "$work/costsync"
    chmod 0755 "$work/costsync"
    for unit in $units; do
        sed "s|$binary|$work/costsync|g" "$dir/$unit" > "$work/$unit"
    done
fi

status=0
for unit in $units; do
    # verify prints problems and may still exit 0 for some of them: any output fails.
    if ! out=$(cd "$verify_dir" && systemd-analyze verify "./$unit" 2>&1) || [ -n "$out" ]; then
        echo "check-units: $unit: systemd-analyze verify:" >&2
        echo "$out" >&2
        status=1
    else
        echo "check-units: $unit: verify OK"
    fi
done

for unit in $services; do
    out=$(systemd-analyze security --offline=true "$dir/$unit" 2>&1) || true
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
    if [ -z "$score" ]; then
        echo "check-units: $unit: systemd-analyze security gave no score:" >&2
        echo "$out" >&2
        status=1
    elif awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
        echo "check-units: $unit: exposure $score is above $max; what is not locked down:" >&2
        printf '%s\n' "$out" | grep '✗' >&2 || true
        status=1
    else
        echo "check-units: $unit: exposure $score (at most $max) OK"
    fi
done

exit $status
