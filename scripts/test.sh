#!/usr/bin/env bash
# Full verification run (used by `make test` and .ci/run):
#   1. bootstrap (system packages, PostgreSQL on 127.0.0.1:5432, .venv)
#   2. ruff check, mypy app
#   3. `flask db upgrade` on an empty throwaway SQLite DB and on an empty
#      PostgreSQL DB (jixiao_migrate_check, dropped and re-created)
#   4. pytest on SQLite, then on PostgreSQL (TEST_DATABASE_URL=.../jixiao_test)
# Every step runs even if an earlier one failed; a summary is printed and the
# exit status is non-zero if any step failed. pytest exit code 5 ("no tests
# collected") counts as a failure.
#
# Extra pytest arguments can be passed via PYTEST_ARGS, e.g.
#   PYTEST_ARGS="-n auto -x" scripts/test.sh
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

PY="$ROOT/.venv/bin/python"
FLASK="$ROOT/.venv/bin/flask"
PG="postgresql+psycopg://postgres@127.0.0.1:5432"
PSQL=(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -v ON_ERROR_STOP=1 -q)
read -r -a PYTEST_EXTRA <<<"${PYTEST_ARGS:-}"

# Tests use the system Chromium, never a `playwright install`-ed one.
export CHROMIUM_EXECUTABLE="${CHROMIUM_EXECUTABLE:-$(command -v chromium || echo /usr/bin/chromium)}"

TMP="$(mktemp -d -t jixiao-test.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

names=()
results=()

step() {  # step "name" command...
    local name="$1"; shift
    printf '\n==================== %s ====================\n' "$name"
    local start=$SECONDS rc
    "$@"
    rc=$?
    names+=("$name")
    if [ "$rc" -eq 0 ]; then
        results+=("ok     ($((SECONDS - start))s)")
    elif [ "$rc" -eq 5 ] && [[ "$name" == pytest* ]]; then
        results+=("FAILED (exit 5: no tests collected)")
    else
        results+=("FAILED (exit $rc)")
    fi
    return 0
}

summary_and_exit() {
    printf '\n==================== summary ====================\n'
    local i failed=0
    for i in "${!names[@]}"; do
        printf '  %-34s %s\n' "${names[$i]}" "${results[$i]}"
        [[ "${results[$i]}" == ok* ]] || failed=1
    done
    if [ "$failed" -eq 0 ]; then
        echo "ALL STEPS PASSED"
    else
        echo "SOME STEPS FAILED"
    fi
    exit "$failed"
}

# ------------------------------------------------------------------ steps
bootstrap() { bash scripts/bootstrap.sh --with-pg; }

ruff_check() { "$ROOT/.venv/bin/ruff" check .; }

mypy_app() { "$ROOT/.venv/bin/mypy" app; }

# Run `flask db upgrade` against a given DATABASE_URL with an isolated
# instance/upload dir so it can't touch the developer's data.
flask_upgrade() {
    env DATABASE_URL="$1" \
        SECRET_KEY="${SECRET_KEY:-test-only-secret-key}" \
        UPLOAD_DIR="$TMP/uploads" \
        "$FLASK" --app wsgi db upgrade
}

migrate_sqlite() {
    rm -f "$TMP/migrate_check.sqlite3"
    flask_upgrade "sqlite:///$TMP/migrate_check.sqlite3"
}

migrate_pg() {
    "${PSQL[@]}" -c 'DROP DATABASE IF EXISTS jixiao_migrate_check WITH (FORCE)' &&
        "${PSQL[@]}" -c 'CREATE DATABASE jixiao_migrate_check' &&
        flask_upgrade "$PG/jixiao_migrate_check"
}

ensure_test_db() {
    local exists
    exists="$("${PSQL[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'jixiao_test'")" || return 1
    if [ "$exists" != 1 ]; then
        "${PSQL[@]}" -c 'CREATE DATABASE jixiao_test'
    fi
}

pytest_sqlite() {
    env -u DATABASE_URL -u TEST_DATABASE_URL "$PY" -m pytest "${PYTEST_EXTRA[@]}"
}

pytest_pg() {
    env -u DATABASE_URL TEST_DATABASE_URL="$PG/jixiao_test" "$PY" -m pytest "${PYTEST_EXTRA[@]}"
}

step "bootstrap --with-pg" bootstrap
if [[ "${results[0]}" != ok* ]]; then
    echo "bootstrap failed; not running the remaining steps" >&2
    summary_and_exit
fi

step "ruff check" ruff_check
step "mypy app" mypy_app
step "migrations: SQLite (empty DB)" migrate_sqlite
step "migrations: PostgreSQL (empty DB)" migrate_pg
step "create jixiao_test if missing" ensure_test_db
step "pytest (SQLite)" pytest_sqlite
step "pytest (PostgreSQL)" pytest_pg

summary_and_exit
