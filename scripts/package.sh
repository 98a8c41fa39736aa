#!/usr/bin/env bash
# Builds the Debian package of vs_ingest for the PostgreSQL whose pg_config it finds (15 here), the
# way Debian names its PostgreSQL extension packages: postgresql-15-vs-ingest_<version>-1_amd64.deb.
#
#   ./scripts/package.sh [--debug] [--from DIR] [--out DIR]
#
#   (default)    `cargo pgrx package` (the release build), then the package from its output
#   --debug      the debug build instead (what the suite packages: it is built already)
#   --from DIR   no build: package an existing `cargo pgrx package` output directory (DIR/usr/...),
#                for example an earlier release's (scripts/package-test.sh packages 0.1.0 so)
#   --out DIR    where the .deb goes (default target/debian)
#
# The package holds the library, the control file, the install script and the upgrade scripts
# from every earlier version (so ALTER EXTENSION vs_ingest UPDATE works after installing it over
# an older one), the license, a changelog, and the monitoring files (Prometheus exporter queries,
# Grafana dashboard) as examples. It depends on postgresql-15 and on the shared libraries the
# library links (dpkg-shlibdeps: libc6, libgcc-s1 and ISA-L's libisal2). It has no maintainer
# scripts: nothing is done at install time; CREATE EXTENSION is the DBA's. Built with dpkg-deb and
# checked with lintian (Debian's dpkg-dev and lintian, installed with apt-get if missing); lintian's
# remaining tags are printed, and explained in docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/cluster.sh

PROFILE=release
FROM=
OUT=$ROOT/target/debian
while (($#)); do
    case $1 in
        --debug) PROFILE=debug; shift ;;
        --from) FROM=${2:?--from needs a directory}; shift 2 ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
PG_MAJOR=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
SHAREDIR=$("$PG_CONFIG" --sharedir)
NAME=postgresql-$PG_MAJOR-vs-ingest
ARCH=$(dpkg --print-architecture)

install_packages dpkg-dev lintian >&2

BUILT_HERE=false
if [ -z "$FROM" ]; then
    BUILT_HERE=true
    if [ "$PROFILE" = debug ]; then
        cargo pgrx package --debug --pg-config "$PG_CONFIG" >/dev/null
    else
        cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
    fi
    FROM=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/vs_ingest-pg$PG_MAJOR
fi
[ -f "$FROM$PKGLIBDIR/vs_ingest.so" ] || { echo "no $FROM$PKGLIBDIR/vs_ingest.so: not a cargo pgrx package output" >&2; exit 1; }
CONTROL_FILE=$FROM$SHAREDIR/extension/vs_ingest.control
VERSION=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$CONTROL_FILE")
[ -n "$VERSION" ] || { echo "no default_version in $CONTROL_FILE" >&2; exit 1; }
DEB_VERSION=$VERSION-1
# The maintainer, as Debian's tools take it ($DEBFULLNAME <$DEBEMAIL>), else the author of the
# tree's last commit.
MAINTAINER="${DEBFULLNAME:-$(git log -1 --format=%an)} <${DEBEMAIL:-$(git log -1 --format=%ae)}>"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOTFS=$STAGE/root
DOC=$ROOTFS/usr/share/doc/$NAME
mkdir -p "$ROOTFS$PKGLIBDIR" "$ROOTFS$SHAREDIR/extension" "$DOC/examples" "$ROOTFS/DEBIAN"
# Shared objects go in without their debugging sections (Debian policy 10.1), 0644.
install -m 0644 "$FROM$PKGLIBDIR/vs_ingest.so" "$ROOTFS$PKGLIBDIR/"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOTFS$PKGLIBDIR/vs_ingest.so"
install -m 0644 "$FROM$SHAREDIR"/extension/vs_ingest* "$ROOTFS$SHAREDIR/extension/"
# The README and monitoring files of this tree go with a build of it (not with --from, which
# may be an older release's build).
if $BUILT_HERE; then
    install -m 0644 monitoring/* "$DOC/examples/"
    install -m 0644 README.md "$DOC/README.md"
    gzip -9n "$DOC/README.md"
else
    rmdir "$DOC/examples"
fi
cat >"$DOC/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vs_ingest
Source: the vs_ingest source tree, packaged by its scripts/package.sh

Files: *
Copyright: 2026 the vs_ingest developers
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in the file /usr/share/common-licenses/Apache-2.0.
EOF
{
    echo "$NAME ($DEB_VERSION) unstable; urgency=medium"
    echo
    echo "  * vs_ingest $VERSION, packaged by scripts/package.sh from a cargo pgrx build."
    echo
    echo " -- $MAINTAINER  $(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/copyright" "$DOC/changelog.Debian.gz"

# The shared libraries the library needs, as dpkg-shlibdeps finds them (it wants a debian/control).
mkdir -p "$STAGE/src/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$NAME" "$NAME" >"$STAGE/src/debian/control"
SHLIBS=$(cd "$STAGE/src" && dpkg-shlibdeps -O "$ROOTFS$PKGLIBDIR/vs_ingest.so" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS" ] || { echo "dpkg-shlibdeps found no dependencies" >&2; exit 1; }

INSTALLED_KB=$(du -sk --exclude=DEBIAN "$ROOTFS" | cut -f1)
cat >"$ROOTFS/DEBIAN/control" <<EOF
Package: $NAME
Version: $DEB_VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_KB
Depends: postgresql-$PG_MAJOR, $SHLIBS
Section: database
Priority: optional
Description: load ITS 5-minute link-speed files into PostgreSQL $PG_MAJOR
 vs_ingest is a PostgreSQL extension that loads compressed traffic speed
 files (one per day, per road link every 5 minutes) from a server-side
 directory with one SQL call, parsing and aggregating them on every core,
 into tables partitioned by day with hourly and 5-minute views and daily
 rollups kept exact by the load. Loads resume exactly after a crash; a
 background worker loads new and late files on a schedule.
EOF
(cd "$ROOTFS" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$ROOTFS/DEBIAN/md5sums"
chmod 0644 "$ROOTFS/DEBIAN/control" "$ROOTFS/DEBIAN/md5sums"
find "$ROOTFS" -type d -exec chmod 0755 {} +

mkdir -p "$OUT"
DEB=$OUT/${NAME}_${DEB_VERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOTFS" "$DEB" >/dev/null
echo "$DEB"
# lintian's verdict: errors fail the build, the rest is printed. (It warns that it runs as root
# in CI; it reads the package only.)
lintian --tag-display-limit 0 --suppress-tags-from-file "$ROOT/scripts/lintian-expected" "$DEB" >&2 || {
    echo "lintian found errors in $DEB" >&2
    exit 1
}
