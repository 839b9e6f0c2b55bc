#!/bin/sh
# stage.sh LAYOUT DEST — lays out every file totpd installs under DEST, as
# it will stand on the target system. This is the one list of installed
# files: `make install` copies this tree into $DESTDIR, and `make package`
# hands the same tree to nfpm (packaging/nfpm.yaml), so the .deb, the .rpm
# and a source install cannot drift apart.
#
# LAYOUT is deb (Debian, Ubuntu) or rpm (RHEL, Fedora, SUSE); it decides
# where PAM looks for modules and which distribution files come along.
#
# Environment:
#   BUILD    the directory `make build` filled (default: build)
#   PREFIX   /usr (default) or e.g. /usr/local for totpd and totpctl, the
#            man pages and the docs. The PAM module, the systemd units and
#            /etc/totpd stay where PAM, systemd and the daemon look for them
#            whatever PREFIX says; the unit's ExecStart follows PREFIX.
#   PAMDIR   where PAM loads modules from (default: by LAYOUT)
#   UNITDIR  systemd's system unit directory (default: /usr/lib/systemd/system)
#   VERSION  the release (default: the VERSION file); the changelog's
#            newest entry must name it
set -eu

layout=${1:?usage: stage.sh deb|rpm DEST}
dest=${2:?usage: stage.sh deb|rpm DEST}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
prefix=${PREFIX:-/usr}
unitdir=${UNITDIR:-/usr/lib/systemd/system}
version=${VERSION:-$(cat "$top/VERSION")}

case "$layout" in
deb) pamdir=${PAMDIR:-/usr/lib/x86_64-linux-gnu/security} ;;
rpm) pamdir=${PAMDIR:-/usr/lib64/security} ;;
*) echo "stage.sh: layout must be deb or rpm, not '$layout'" >&2; exit 2 ;;
esac

for f in totpd totpctl pam_totpd.so pam_totpd_go.so man/totpd.8.gz; do
	[ -f "$build/$f" ] || { echo "stage.sh: $build/$f is missing: run 'make build' first" >&2; exit 1; }
done
# The packages are release 1 of the upstream version (nfpm.yaml).
head -n 1 "$here/changelog" | grep -q "^totpd ($version-1) " || {
	echo "stage.sh: packaging/changelog's newest entry is not for version $version-1 (VERSION): add one" >&2
	exit 1
}

rm -rf "$dest"
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
doc=$dest$prefix/share/doc/totpd

# put MODE SRC DST: one installed file, root-owned (nfpm and install(1)
# set the owner; modes are set here).
put() {
	mkdir -p "$(dirname "$dest$3")"
	cp "$2" "$dest$3"
	chmod "$1" "$dest$3"
}

# Programs. The Makefile builds them stripped (-s) with the version in.
put 0755 "$build/totpd" "$prefix/sbin/totpd"
# totpd built with fleet mode, which totpd execs when [cluster] asks for it
# (daemon/exec.go): found as ../libexec/totpd/totpd-fleet from totpd.
put 0755 "$build/totpd-fleet" "$prefix/libexec/totpd/totpd-fleet"
put 0755 "$build/totpctl" "$prefix/bin/totpctl"
# The C linker's .comment section (compiler versions) serves nobody.
objcopy --remove-section=.comment "$dest$prefix/sbin/totpd"
objcopy --remove-section=.comment "$dest$prefix/libexec/totpd/totpd-fleet"
objcopy --remove-section=.comment "$dest$prefix/bin/totpctl"

# The PAM module: the C loader and, beside it, the Go library it loads in
# a child process (pam/build.sh). Both root-owned and not writable by
# anyone else: PAM runs them as root. The loader is stripped here; the Go
# library already is.
put 0644 "$build/pam_totpd.so" "$pamdir/pam_totpd.so"
strip --strip-unneeded --remove-section=.comment "$dest$pamdir/pam_totpd.so"
put 0644 "$build/pam_totpd_go.so" "$pamdir/pam_totpd_go.so"
objcopy --remove-section=.comment "$dest$pamdir/pam_totpd_go.so"

# systemd: the socket starts the service on the first connection.
put 0644 "$here/systemd/totpd.socket" "$unitdir/totpd.socket"
sed "s|^ExecStart=/usr/sbin/totpd |ExecStart=$prefix/sbin/totpd |" \
	"$here/systemd/totpd.service" >"$build/totpd.service.staged"
put 0644 "$build/totpd.service.staged" "$unitdir/totpd.service"
rm -f "$build/totpd.service.staged"

# The configuration: a conffile in the .deb, config(noreplace) in the .rpm;
# `make install` never overwrites an existing one.
put 0644 "$here/totpd.toml" /etc/totpd/totpd.toml

# Man pages: `make build` turns packaging/man/*.md into build/man/*.gz.
for page in "$build"/man/*.gz; do
	name=$(basename "$page" .gz)        # totpctl.1
	put 0644 "$page" "$prefix/share/man/man${name##*.}/$name.gz"
done

# Documentation: copyright, changelog, and the ready examples README
# points to (PAM files, sshd drop-ins, the TPM credential drop-in).
put 0644 "$here/copyright" "$prefix/share/doc/totpd/copyright"
# Debian names a packaged (non-native) release's changelog changelog.Debian.
changelog=changelog.gz
[ "$layout" = deb ] && changelog=changelog.Debian.gz
gzip -9n <"$here/changelog" >"$doc/$changelog"
chmod 0644 "$doc/$changelog"
for f in "$top"/contrib/pam.d/* "$top"/contrib/sshd_config.d/*; do
	rel=${f#"$top"/contrib/}
	put 0644 "$f" "$prefix/share/doc/totpd/examples/$rel"
done
put 0644 "$here/systemd/totpd-credential.conf.example" \
	"$prefix/share/doc/totpd/examples/totpd-credential.conf.example"
put 0644 "$here/systemd/totpd-fleet.conf.example" \
	"$prefix/share/doc/totpd/examples/totpd-fleet.conf.example"

case "$layout" in
deb)
	# pam-auth-update's profile: shipped, never enabled by the install
	# (Default: no); `pam-auth-update --enable totpd` turns it on.
	put 0644 "$top/contrib/pam-configs/totpd" /usr/share/pam-configs/totpd
	;;
rpm)
	# RPM distributions enable units through presets, not scripts.
	put 0644 "$here/systemd/80-totpd.preset" /usr/lib/systemd/system-preset/80-totpd.preset
	;;
esac

# Directories 0755 (umask may have made them tighter).
find "$dest" -type d -exec chmod 0755 {} +
