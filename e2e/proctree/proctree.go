// Package proctree finds the processes a test or benchmark started
// indirectly (sshd's per-connection children, say), so that each can be
// checked for and stopped by its pid.
package proctree

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Descendants reports every living descendant of pid with its command
// line. Zombies are left out: they have finished.
func Descendants(pid int) map[int]string {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		parent[p], _ = strconv.Atoi(f[1])
	}
	out := map[int]string{}
	for p := range parent {
		for q, n := parent[p], 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if q == pid {
				cl, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "cmdline"))
				out[p] = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
				break
			}
		}
	}
	return out
}

// WaitGone waits at most timeout for pid to have no living descendants
// (sshd's per-connection processes ending after their clients), and
// reports those still there then.
func WaitGone(pid int, timeout time.Duration) map[int]string {
	deadline := time.Now().Add(timeout)
	for {
		kids := Descendants(pid)
		if len(kids) == 0 || time.Now().After(deadline) {
			return kids
		}
		time.Sleep(20 * time.Millisecond)
	}
}
