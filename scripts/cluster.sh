# Functions to run a project-local PostgreSQL 15 cluster owned by `postgres`. Source this file.
# Postgres refuses to run as root, so every server command runs through `sudo -u postgres`.

PG_BIN=/usr/lib/postgresql/15/bin

as_postgres() { sudo -u postgres -- "$@"; }

# postgres_dir DIR: creates DIR owned by postgres, reachable through its parent directories.
postgres_dir() {
    mkdir -p "$1"
    chown postgres:postgres "$1"
    local d
    d=$(dirname "$(realpath "$1")")
    while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
}

# cluster_start DATA_DIR PORT [SETTING ...]: initialises DATA_DIR if needed, writes the settings
# into postgresql.conf (replacing earlier ones of ours), and (re)starts the server on PORT,
# listening on 127.0.0.1 and a socket in DATA_DIR.
cluster_start() {
    local data=$1 port=$2
    shift 2
    if [ ! -s "$data/PG_VERSION" ]; then
        postgres_dir "$data"
        as_postgres "$PG_BIN/initdb" -D "$data" --auth=trust --username=postgres --encoding=UTF8 \
            --locale=C.UTF-8 >/dev/null
    fi
    cluster_stop "$data"
    {
        sed '/^# vs_ingest-begin$/,/^# vs_ingest-end$/d' "$data/postgresql.conf"
        echo "# vs_ingest-begin"
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$data'"
        for setting in "$@"; do echo "$setting"; done
        echo "# vs_ingest-end"
    } > "$data/postgresql.conf.new"
    chown postgres:postgres "$data/postgresql.conf.new"
    mv "$data/postgresql.conf.new" "$data/postgresql.conf"
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null
}

cluster_stop() {
    local data=$1
    if [ -s "$data/postmaster.pid" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
}

# install_packages PACKAGE...: installs the Debian packages not installed yet (as root).
install_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        printf '\033[1m== installing Debian packages: %s\033[0m\n' "${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # Do not let the server package create and start its default cluster: we run our own.
        mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/vs_ingest.conf
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

