package testutils

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// AccountToolRetry bounds how long RunAccountTool retries a locked database.
const AccountToolRetry = 30 * time.Second

// RunAccountTool runs an account tool (useradd, userdel, usermod,
// groupadd, groupdel, chpasswd) with stdin, again while another process
// holds the lock on /etc/passwd or /etc/group: they fail at once rather
// than wait ("cannot lock …; try again later"). It gives up after
// AccountToolRetry; the error names the command and holds its output.
func RunAccountTool(stdin string, argv ...string) error {
	deadline := time.Now().Add(AccountToolRetry)
	for {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		locked := bytes.Contains(out, []byte("lock")) || bytes.Contains(out, []byte("try again later"))
		if !locked || time.Now().After(deadline) {
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
