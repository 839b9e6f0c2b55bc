package hostkit

import (
	"fmt"
	"strings"
)

// Bind is one bind mount: Src over Dst.
type Bind struct{ Src, Dst string }

// Private is a private mount namespace for one command: only that process
// tree sees its mounts, the machine's files stay as they are. The command
// runs as
//
//	unshare --mount --propagation private -- sh -c SCRIPT sh ETC SRC DST … -- COMMAND…
//
// unshare does not fork and sh execs the command, so the pid is the
// command's own.
type Private struct {
	// Etc, when set, is a directory (holding e.g. passwd and group) laid
	// over /etc as a read-only overlay, before the binds.
	//
	// Why an overlay on /etc rather than `mount --bind` over /etc/passwd:
	// useradd replaces /etc/passwd by rename, and since Linux 3.18
	// replacing a file that is a mount point in another namespace detaches
	// that mount, so the private passwd would vanish under the command
	// whenever another test adds an account. A mount on the /etc directory
	// is not affected.
	Etc string
	// Binds are mounted in order.
	Binds []Bind
	// MarkFD3, when set, makes the shell write "exec\n" to fd 3 once the
	// mounts are done, just before it execs the command (which gets no
	// fd 3): the caller passes a pipe there to time the command's own start.
	MarkFD3 bool
}

const privateScript = `set -e
if [ -n "$1" ]; then mount -t overlay totpd-test -o "lowerdir=$1:/etc" /etc; fi
shift
while [ "$1" != "--" ]; do mount --bind "$1" "$2"; shift 2; done
shift
`

// Argv reports the argv that runs command (more of it may be appended)
// in the namespace.
func (p Private) Argv(command ...string) ([]string, error) {
	if strings.ContainsAny(p.Etc, ":,") {
		return nil, fmt.Errorf("%s: an overlay lowerdir cannot contain ':' or ','", p.Etc)
	}
	script := privateScript + `exec "$@"`
	if p.MarkFD3 {
		script = privateScript + "echo exec >&3\n" + `exec "$@" 3>&-`
	}
	argv := []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", p.Etc}
	for _, b := range p.Binds {
		argv = append(argv, b.Src, b.Dst)
	}
	argv = append(argv, "--")
	return append(argv, command...), nil
}

// EtcOverlay reports the argv prefix of a command that runs the rest of
// its argv in a private mount namespace where dir is laid over /etc as a
// read-only overlay (Private.Etc).
func EtcOverlay(dir string) ([]string, error) {
	return Private{Etc: dir}.Argv()
}
