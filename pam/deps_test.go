package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestModuleImportsNoCLI: the module links nothing of totpctl; what both
// show (the enrollment wording, the QR code) lives under daemon/.
func TestModuleImportsNoCLI(t *testing.T) {
	// go test puts $GOROOT/bin first in the PATH of the tests it runs.
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	for _, pkg := range strings.Fields(string(out)) {
		require.False(t, strings.HasPrefix(pkg, "github.com/totpd/totpd/cli"), "the PAM module imports %s", pkg)
	}
}
