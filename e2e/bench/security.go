package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

// Goal and anchor of PRODUCT.md §5 for the service sandbox.
const (
	goalExposure   = 1.5
	anchorExposure = 1.7 // authd.service, as PRODUCT.md quotes it
)

// authdUnit, when set (-authd-unit), is an authd.service to score in the
// same run instead of quoting PRODUCT.md's 1.7.
var authdUnit string

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)`)

// exposure scores a unit file with systemd-analyze security --offline=true.
func exposure(dir, unit string) (float64, error) {
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
		return 0, fmt.Errorf("systemd-analyze security %s: %v: %s", unit, err, bytes.TrimSpace(lastLines(out.Bytes(), 3)))
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}

// runSecurity scores packaging/systemd/totpd.service.
func runSecurity(b *Bench) ([]Row, error) {
	const unit = "packaging/systemd/totpd.service"
	row := Row{What: "systemd-analyze security, totpd.service", Goal: fmt.Sprintf("≤ %.1f", goalExposure), Unit: "exposure"}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		row.Ours, row.Status, row.Note = "not run", StatusSkipped, "systemd-analyze is not installed"
		return []Row{row}, nil
	}
	anchor, anchorFrom := anchorExposure, "authd.service as quoted in PRODUCT.md (no authd.service on this host; -authd-unit FILE scores one in this run)"
	for _, p := range []string{authdUnit, "/lib/systemd/system/authd.service", "/usr/lib/systemd/system/authd.service"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		abs, _ := filepath.Abs(p)
		v, err := exposure(b.RepoDir, abs)
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
	v, err := exposure(b.RepoDir, unit)
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
	row.Status = judge(v <= goalExposure)
	row.Note = "systemd-analyze security --offline=true " + unit + " (lower is better); anchor: " + anchorFrom
	return []Row{row}, nil
}
