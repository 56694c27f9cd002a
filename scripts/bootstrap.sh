#!/usr/bin/env bash
# Idempotent environment setup for the jixiao project.
#
#   scripts/bootstrap.sh            system packages (check / install) + .venv
#   scripts/bootstrap.sh --with-pg  ... and make sure PostgreSQL accepts on 127.0.0.1:5432
#
# As root: installs missing Debian packages with apt-get.
# As a normal user: only reports what is missing and how to install it.
# Never runs `playwright install` (tests use the system Chromium).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

WITH_PG=0
for arg in "$@"; do
    case "$arg" in
        --with-pg) WITH_PG=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "bootstrap: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

PYTHON="${PYTHON:-python3.11}"
VENV=".venv"
STAMP="$VENV/.stamp"
PG_HOST=127.0.0.1
PG_PORT=5432

log()  { printf '[bootstrap] %s\n' "$*"; }
warn() { printf '[bootstrap] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# package -> how we detect it (package status, or the binary we actually use)
have_pkg() {
    case "$1" in
        wkhtmltopdf)    command -v wkhtmltopdf >/dev/null 2>&1 ;;
        chromium)       command -v chromium >/dev/null 2>&1 ;;
        poppler-utils)  command -v pdftotext >/dev/null 2>&1 ;;
        postgresql)     pkg_installed postgresql || compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null ;;
        fonts-noto-cjk) pkg_installed fonts-noto-cjk ;;
        *)              pkg_installed "$1" ;;
    esac
}

# ---------------------------------------------------------------- system packages
PACKAGES=(wkhtmltopdf fonts-noto-cjk chromium poppler-utils postgresql)
missing=()
for p in "${PACKAGES[@]}"; do
    have_pkg "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "system packages present: ${PACKAGES[*]}"
elif is_root; then
    log "installing missing packages: ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
    warn "missing system packages: ${missing[*]}"
    warn "install them with:"
    warn "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
fi

# ---------------------------------------------------------------- PostgreSQL
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }

if [ "$WITH_PG" -eq 1 ]; then
    command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found (package postgresql-client / postgresql)"
    if pg_ready; then
        log "PostgreSQL accepting on $PG_HOST:$PG_PORT"
    else
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | head -1 || true)"
        [ -n "$version" ] || die "no PostgreSQL cluster found under /etc/postgresql (install package postgresql)"
        start_cmd=(pg_ctlcluster --skip-systemctl-redirect "$version" main start)
        if is_root || [ "$(id -un)" = postgres ]; then
            log "starting PostgreSQL: ${start_cmd[*]}"
            "${start_cmd[@]}" || warn "pg_ctlcluster returned non-zero (cluster may already be starting)"
            for _ in $(seq 1 30); do pg_ready && break; sleep 0.5; done
            pg_ready || die "PostgreSQL still not accepting on $PG_HOST:$PG_PORT (see /var/log/postgresql/)"
            log "PostgreSQL accepting on $PG_HOST:$PG_PORT"
        else
            die "PostgreSQL is not running on $PG_HOST:$PG_PORT; start it with: sudo ${start_cmd[*]}"
        fi
    fi
    # Tests connect as postgres@127.0.0.1 without a password.
    if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -w -tAc 'SELECT 1' >/dev/null 2>&1; then
        hba="$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | head -1 || true)"
        die "cannot connect as user postgres to $PG_HOST:$PG_PORT without a password.
    Trust auth for 127.0.0.1 is not configured. Add this line near the top of ${hba:-pg_hba.conf}:
        host    all    postgres    127.0.0.1/32    trust
    then reload: pg_ctlcluster --skip-systemctl-redirect <version> main reload"
    fi
    log "PostgreSQL trust auth for postgres@$PG_HOST OK"
fi

# ---------------------------------------------------------------- virtualenv
if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found on PATH (need Python 3.11)"
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
    rm -f "$STAMP"
fi

venv_ver="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$venv_ver" = "3.11" ] || warn "$VENV uses Python $venv_ver, expected 3.11 (delete $VENV and re-run)"

if [ ! -f "$STAMP" ] || [ requirements.txt -nt "$STAMP" ] || [ requirements-dev.txt -nt "$STAMP" ]; then
    log "installing Python requirements (requirements-dev.txt)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements-dev.txt
    touch "$STAMP"
else
    log "Python requirements up to date ($STAMP)"
fi

log "done"
