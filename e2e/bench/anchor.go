package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// fsyncAnchor is ARCHITECTURE.md's ("Numbers") anchor for the daemon rows: one
// crash-safe file replace with two fsyncs, the price of making one
// answer durable the obvious way.
type fsyncAnchor struct {
	Iterations int
	Size       int
	Mean       time.Duration
	Lat        Latencies
}

func (a *fsyncAnchor) opsPerSec() float64 { return float64(time.Second) / float64(a.Mean) }

// Anchor measures the anchor once per run, in a directory next to the
// daemon's state dir (same file system).
func (b *Bench) Anchor() (*fsyncAnchor, error) {
	if b.anchor != nil {
		return b.anchor, nil
	}
	dir := filepath.Join(b.WorkDir, "anchor")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	n := 300
	a, err := measureReplace(dir, n, 512)
	if err != nil {
		return nil, fmt.Errorf("fsync anchor: %w", err)
	}
	b.anchor = a
	return a, nil
}

// measureReplace times n crash-safe replaces of dir/state: write a
// temporary file, fsync it, rename it over the old one, fsync the
// directory. size is about a sealed user record.
func measureReplace(dir string, n, size int) (*fsyncAnchor, error) {
	data := make([]byte, size)
	rand.Read(data)
	dfd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(dfd)
	target := filepath.Join(dir, "state")
	tmp := filepath.Join(dir, ".state.tmp")
	one := func() error {
		fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		_, err = syscall.Write(fd, data)
		if err == nil {
			err = syscall.Fsync(fd)
		}
		if cerr := syscall.Close(fd); err == nil {
			err = cerr
		}
		if err == nil {
			err = syscall.Rename(tmp, target)
		}
		if err == nil {
			err = syscall.Fsync(dfd)
		}
		return err
	}
	if err := one(); err != nil { // create the target, untimed
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		t := time.Now()
		if err := one(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
	}
	total := time.Since(start)
	return &fsyncAnchor{Iterations: n, Size: size, Mean: total / time.Duration(n), Lat: summarize(lat)}, nil
}

func (a *fsyncAnchor) row() Row {
	return Row{
		What:   fmt.Sprintf("anchor: crash-safe replace, 2 fsyncs (%d×)", a.Iterations),
		Ours:   "",
		Anchor: fmt.Sprintf("%.2f ms = %s/s", ms(a.Mean), fmtInt(int64(a.opsPerSec()+0.5))),
		Goal:   "(reference)",
		Status: StatusInfo,
		Note: fmt.Sprintf("write %d B temp file, fsync, rename, fsync dir; serial; p50 %s, p99 %s (ARCHITECTURE.md quotes 2.35 ms ≈ 425/s)",
			a.Size, fmtMs(a.Lat.P50), fmtMs(a.Lat.P99)),
		AnchorValue: a.opsPerSec(),
		Unit:        "ops/s",
		Extra:       map[string]float64{"mean_ms": ms(a.Mean), "p50_ms": ms(a.Lat.P50), "p99_ms": ms(a.Lat.P99)},
	}
}
