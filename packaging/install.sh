#!/bin/sh
# install.sh install|uninstall — `make install` and `make uninstall` for
# people who build from source. It installs the tree packaging/stage.sh
# lays out (the same files as the .deb or .rpm) into $DESTDIR, then, on a
# live system (no DESTDIR), does what the packages' scripts do: make the
# group totpd-admin and enable totpd.socket. Like the packages it changes
# no PAM stack and no sshd configuration.
#
# Environment: DESTDIR, PREFIX, PAMDIR, UNITDIR, BUILD as stage.sh takes
# them; LAYOUT deb|rpm (default: deb where /etc/debian_version exists).
set -eu

action=${1:?usage: install.sh install|uninstall}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
destdir=${DESTDIR:-}
config=/etc/totpd/totpd.toml

if [ -z "${LAYOUT:-}" ]; then
	if [ -e /etc/debian_version ]; then LAYOUT=deb; else LAYOUT=rpm; fi
fi
live=false
[ -z "$destdir" ] && live=true
if $live && [ "$(id -u)" != 0 ]; then
	echo "install.sh: installing into / needs root: run 'sudo make $action' (or set DESTDIR to stage the files elsewhere)" >&2
	exit 1
fi
systemd_running=false
[ -d /run/systemd/system ] && systemd_running=true

stage=$build/stage/install
BUILD=$build "$here/stage.sh" "$LAYOUT" "$stage"
files=$(cd "$stage" && find . -type f | sed 's|^\.||' | sort)

case "$action" in
install)
	owner=""
	[ "$(id -u)" = 0 ] && owner="-o root -g root"
	for f in $files; do
		src=$stage$f
		dst=$destdir$f
		mode=$(stat -c %a "$src")
		if [ "$f" = "$config" ] && [ -e "$dst" ]; then
			# Never replace an admin's configuration (a conffile in the .deb).
			# shellcheck disable=SC2086
			install -D -m "$mode" $owner "$src" "$dst.new"
			echo "kept $dst; the new default is $dst.new"
			continue
		fi
		# shellcheck disable=SC2086
		install -D -m "$mode" $owner "$src" "$dst"
	done
	echo "installed $(echo "$files" | wc -l) files under ${destdir:-/}"
	$live || exit 0

	if ! getent group totpd-admin >/dev/null; then
		groupadd --system totpd-admin
		echo "made the group totpd-admin (its members may run totpctl's admin commands)"
	fi
	if $systemd_running; then
		systemctl daemon-reload
		systemctl enable --now totpd.socket
		echo "enabled and started totpd.socket"
	elif command -v systemctl >/dev/null && systemctl enable totpd.socket >/dev/null 2>&1; then
		# As the .deb does without a running systemd (a chroot, a
		# container): enabled now, started at the next boot.
		echo "enabled totpd.socket (systemd is not running here: it starts at the next boot; meanwhile run 'totpd' by hand)"
	else
		echo "systemd is not running here: start the daemon with 'totpd' by hand, or run 'systemctl enable --now totpd.socket' once systemd runs"
	fi
	cat <<EOF

Next steps (nothing of PAM or sshd was changed):
  totpctl enroll                    enroll your own phone first
  man pam_totpd                     turn it on for sshd, login, su, sudo
  examples: $destdir${PREFIX:-/usr}/share/doc/totpd/examples
Keep a root shell open while you change PAM or sshd.
EOF
	;;
uninstall)
	if $live && $systemd_running; then
		systemctl disable --now totpd.socket totpd.service >/dev/null 2>&1 || true
	elif $live && command -v systemctl >/dev/null; then
		systemctl disable totpd.socket >/dev/null 2>&1 || true
	fi
	for f in $files; do
		[ "$f" = "$config" ] && continue
		rm -f "$destdir$f"
	done
	rmdir "$destdir${PREFIX:-/usr}/share/doc/totpd/examples/pam.d" \
		"$destdir${PREFIX:-/usr}/share/doc/totpd/examples/sshd_config.d" \
		"$destdir${PREFIX:-/usr}/share/doc/totpd/examples" \
		"$destdir${PREFIX:-/usr}/share/doc/totpd" 2>/dev/null || true
	$live && $systemd_running && systemctl daemon-reload
	echo "removed totpd; kept $destdir/etc/totpd (configuration, master key) and $destdir/var/lib/totpd (enrollments)."
	echo "To delete those too, back them up first, then: rm -rf /etc/totpd /var/lib/totpd"
	;;
*)
	echo "usage: install.sh install|uninstall" >&2
	exit 2
	;;
esac
