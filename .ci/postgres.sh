# Start a throwaway PostgreSQL server for the ledger tests and export POLICYLANG_TEST_PG_URL.
#
# From .ci/run (bash):
#     . .ci/postgres.sh            # sourced: exports POLICYLANG_TEST_PG_URL and POLICYLANG_TEST_PG_DIR
#   or
#     eval "$(bash .ci/postgres.sh)"
# and at the end (optional; the folder is under /tmp):
#     bash .ci/postgres.sh stop
#
# What it does:
#   - keeps POLICYLANG_TEST_PG_URL if it is already set (e.g. a CI service container);
#   - installs PostgreSQL with apt-get when no /usr/lib/postgresql/*/bin/initdb exists
#     (needs root; Debian's package also creates the `postgres` user);
#   - initdb into a fresh folder under /tmp and pg_ctl start, listening only on a Unix
#     socket in that folder (no TCP port to collide with), trust auth, fsync off;
#   - PostgreSQL refuses to run as root, so as root the server runs as `postgres` via runuser.
# The tests read POLICYLANG_TEST_PG_URL; with CI=true they fail (not skip) without a server.
# This file must not change the caller's shell options when sourced, so the work happens
# in a subshell.

_policylang_pg_bindir() {
    # the newest /usr/lib/postgresql/N/bin with an initdb; empty (and success) when none
    local found="" d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && found=$(printf '%s\n%s\n' "$found" "$d" | sed '/^$/d' | sort -V | tail -n 1)
    done
    printf '%s\n' "$found"
}

_policylang_pg_start() (
    set -euo pipefail
    bindir=$(_policylang_pg_bindir)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
            echo "postgres.sh: PostgreSQL is not installed and cannot be installed here (need root and apt-get)" >&2
            exit 1
        fi
        echo "postgres.sh: installing PostgreSQL with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        bindir=$(_policylang_pg_bindir)
    fi
    dir=$(mktemp -d /tmp/policylang-ci-pg.XXXXXX)
    run=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
        chown postgres "$dir"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-c listen_addresses='' -k $dir -c max_connections=120 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2 || { cat "$dir/log" >&2; exit 1; }
    "$bindir/pg_isready" -q -h "$dir" -U postgres -t 30 || { cat "$dir/log" >&2; exit 1; }
    echo "postgresql://postgres@/postgres?host=$dir $dir"
)

_policylang_pg_stop() {
    local dir="${POLICYLANG_TEST_PG_DIR:-}" bindir
    bindir=$(_policylang_pg_bindir)
    [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    else
        "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
    rm -rf "$dir"
}

_policylang_pg_main() {
    if [ "${1:-}" = "stop" ]; then
        if [ -z "${POLICYLANG_TEST_PG_DIR:-}" ]; then
            # not sourced: stop every server this script started
            for d in /tmp/policylang-ci-pg.*; do
                [ -d "$d" ] && POLICYLANG_TEST_PG_DIR="$d" _policylang_pg_stop
            done
        else
            _policylang_pg_stop
        fi
        return 0
    fi
    if [ -n "${POLICYLANG_TEST_PG_URL:-}" ]; then
        echo "postgres.sh: using POLICYLANG_TEST_PG_URL from the environment" >&2
    else
        local out
        out=$(_policylang_pg_start) || { echo "postgres.sh: could not start PostgreSQL" >&2; return 1; }
        POLICYLANG_TEST_PG_URL="${out% *}"
        POLICYLANG_TEST_PG_DIR="${out##* }"
        export POLICYLANG_TEST_PG_URL POLICYLANG_TEST_PG_DIR
        echo "postgres.sh: PostgreSQL ready at $POLICYLANG_TEST_PG_URL" >&2
    fi
    echo "export POLICYLANG_TEST_PG_URL='$POLICYLANG_TEST_PG_URL'"
    [ -z "${POLICYLANG_TEST_PG_DIR:-}" ] || echo "export POLICYLANG_TEST_PG_DIR='$POLICYLANG_TEST_PG_DIR'"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    _policylang_pg_main "$@" >/dev/null   # sourced: the exports are already in the caller
else
    _policylang_pg_main "$@"
fi
