package hostkit

import (
	"fmt"
	"strings"
)

// EtcOverlay reports the argv prefix of a command that runs the rest of
// its argv in a private mount namespace where dir (holding e.g. passwd and
// group) is laid over /etc as a read-only overlay: only that process tree
// sees dir's files, the machine's /etc stays as it is. unshare does not
// fork and sh execs the command, so the pid is the command's own.
//
// Why an overlay on /etc rather than `mount --bind` over /etc/passwd:
// useradd replaces /etc/passwd by rename, and since Linux 3.18 replacing
// a file that is a mount point in another namespace detaches that mount,
// so the private passwd would vanish under the command whenever another
// test adds an account. A mount on the /etc directory is not affected.
func EtcOverlay(dir string) ([]string, error) {
	if strings.ContainsAny(dir, ":,") {
		return nil, fmt.Errorf("%s: an overlay lowerdir cannot contain ':' or ','", dir)
	}
	const script = `mount -t overlay totpd-test -o "lowerdir=$1:/etc" /etc && shift && exec "$@"`
	return []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", dir}, nil
}
