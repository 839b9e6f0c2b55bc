// Package hostkit holds what the host tests of e2e/ (pam_totpd.so inside
// sshd, su, login …) and the `make demo` program e2e/demo both need, so
// that there is one definition of each: the one change made to a shipped
// contrib/pam.d file, the sshd of their own started through a symlink
// named after its PAM service, and a program driven on a pseudo-terminal.
//
// Nothing here sleeps to synchronise: every wait polls a condition with a
// deadline.
package hostkit

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

var moduleName = regexp.MustCompile(`(^|[ \t])pam_totpd\.so([ \t]|$)`)

// AdaptStack is the one change made to a shipped PAM file: every
// `pam_totpd.so` of a non-comment line becomes the absolute path of the
// module (module) followed by socket=SOCKET timeout=TIMEOUT. Nothing else
// in the file changes. A file without the module is an error.
func AdaptStack(text, module, socket string, timeout int) (string, error) {
	n := 0
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		lines[i] = moduleName.ReplaceAllStringFunc(l, func(m string) string {
			n++
			return strings.Replace(m, "pam_totpd.so", fmt.Sprintf("%s socket=%s timeout=%d", module, socket, timeout), 1)
		})
	}
	if n == 0 {
		return "", fmt.Errorf("no pam_totpd.so line to adapt in:\n%s", text)
	}
	return strings.Join(lines, "\n"), nil
}

// FreePort reports a loopback TCP port nobody listens on.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
