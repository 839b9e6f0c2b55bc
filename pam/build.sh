#!/bin/sh
# build.sh BUILD_DIR — builds the PAM module into BUILD_DIR:
#   pam_totpd.so     the C loader, the file PAM service files name;
#   pam_totpd_go.so  the Go half, which the loader loads from its own
#                    directory in a child process (never in the host).
# Both files must be installed side by side, root-owned, mode 0644.
# Environment: GO (default: go), CC (default: gcc), CFLAGS (added).
set -eu
out=${1:?usage: pam/build.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Hardening as Debian builds C: fortified libc calls, full RELRO, no lazy binding.
"${CC:-gcc}" -shared -fPIC -O2 -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror -Wl,-z,relro,-z,now ${CFLAGS:-} \
	-o "$out/pam_totpd.so" "$here/loader/pam_totpd.c" -lpam -ldl
cd "$here/.."
CGO_ENABLED=1 "${GO:-go}" build -trimpath -ldflags="-s -extldflags=-Wl,-z,relro,-z,now" -buildmode=c-shared -o "$out/pam_totpd_go.so" ./pam
# c-shared also writes a C header; nothing needs it.
rm -f "$out/pam_totpd_go.h"
chmod 0644 "$out/pam_totpd.so" "$out/pam_totpd_go.so"
