package testutils

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// GoalExposure is ARCHITECTURE.md's ("Numbers") bound on totpd.service's exposure score
// (systemd-analyze security, lower is safer).
const GoalExposure = 1.5

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)`)

// Exposure reports the exposure score `systemd-analyze security
// --offline=true` gives the unit file (a path, relative to dir).
func Exposure(dir, unit string) (float64, error) {
	cmd := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unit)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	m := exposureRE.FindSubmatch(out.Bytes())
	if m == nil {
		if err == nil {
			err = fmt.Errorf("no exposure level in its output")
		}
		return 0, fmt.Errorf("systemd-analyze security %s: %v: %s", unit, err, bytes.TrimSpace(LastLines(out.Bytes(), 3)))
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// LastLines reports the last n lines of b, for error messages.
func LastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}
