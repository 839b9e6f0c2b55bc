package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/totpd/totpd/e2e/testutils"
)

// Anchor of ARCHITECTURE.md, "Numbers" for the service sandbox; the goal is
// testutils.GoalExposure, which the packaging test checks too.
const anchorExposure = 1.7 // authd.service, as ARCHITECTURE.md quotes it

// authdUnit, when set (-authd-unit), is an authd.service to score in the
// same run instead of quoting ARCHITECTURE.md's 1.7.
var authdUnit string

// runSecurity scores packaging/systemd/totpd.service.
func runSecurity(b *Bench) ([]Row, error) {
	const unit = "packaging/systemd/totpd.service"
	row := Row{What: "systemd-analyze security, totpd.service", Goal: fmt.Sprintf("≤ %.1f", testutils.GoalExposure), Unit: "exposure"}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		row.Ours, row.Status, row.Note = "not run", StatusSkipped, "systemd-analyze is not installed"
		return []Row{row}, nil
	}
	anchor, anchorFrom := anchorExposure, "authd.service as quoted in ARCHITECTURE.md (no authd.service on this host; -authd-unit FILE scores one in this run)"
	for _, p := range []string{authdUnit, "/lib/systemd/system/authd.service", "/usr/lib/systemd/system/authd.service"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		abs, _ := filepath.Abs(p)
		v, err := testutils.Exposure(b.RepoDir, abs)
		if err != nil {
			return nil, fmt.Errorf("anchor: %w", err)
		}
		anchor, anchorFrom = v, "measured in this run from "+abs
		break
	}
	row.Anchor = fmt.Sprintf("%.1f (authd)", anchor)
	row.AnchorValue = anchor
	if _, err := os.Stat(filepath.Join(b.RepoDir, unit)); err != nil {
		row.Ours, row.Status, row.Note = "missing", StatusMissing, unit+" is not there yet"
		return []Row{row}, nil
	}
	v, err := testutils.Exposure(b.RepoDir, unit)
	if err != nil {
		row.Ours, row.Status, row.Note = "error", StatusError, err.Error()
		return []Row{row}, nil
	}
	row.Ours = fmt.Sprintf("%.1f", v)
	row.Value = v
	if anchor > 0 {
		row.Ratio = fmtRatio(v / anchor)
		row.RatioValue = v / anchor
	}
	row.Status = judge(v <= testutils.GoalExposure)
	row.Note = "systemd-analyze security --offline=true " + unit + " (lower is better); anchor: " + anchorFrom
	return []Row{row}, nil
}
