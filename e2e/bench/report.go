package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Status is the ok? column.
type Status string

const (
	StatusOK      Status = "ok"
	StatusMissed  Status = "MISSED"
	StatusInfo    Status = ""        // a measurement with no goal of its own
	StatusMissing Status = "missing" // the thing to measure is not there
	StatusSkipped Status = "skipped" // could not run here (not root, tool absent)
	StatusTodo    Status = "todo"    // the section is not written yet
	StatusError   Status = "ERROR"   // the measurement failed
)

// Row is one line of the report. The strings are what the table shows;
// the numbers are for -json.
type Row struct {
	Section string `json:"section"`
	What    string `json:"what"`
	Ours    string `json:"ours"`
	Anchor  string `json:"anchor,omitempty"`
	Ratio   string `json:"ratio,omitempty"`
	Goal    string `json:"goal,omitempty"`
	Status  Status `json:"status"`
	Note    string `json:"note,omitempty"`

	Value       float64            `json:"value,omitempty"`
	Unit        string             `json:"unit,omitempty"`
	AnchorValue float64            `json:"anchor_value,omitempty"`
	RatioValue  float64            `json:"ratio_value,omitempty"`
	Extra       map[string]float64 `json:"extra,omitempty"`
}

// judge sets Status from whether ours meets the goal.
func judge(met bool) Status {
	if met {
		return StatusOK
	}
	return StatusMissed
}

func printReport(w io.Writer, h Host, rows []Row, took time.Duration) {
	fmt.Fprintf(w, "totpd bench — %s, %d CPU (%s), Linux %s, %s\n", h.Hostname, h.CPUs, h.CPUModel, h.Kernel, h.Go)
	fmt.Fprintf(w, "scratch and state dir on %s (%s); anchors measured in this run; took %s\n", h.WorkFS, h.WorkDev, took.Round(time.Second))
	fmt.Fprintf(w, "load average (1 min) %.1f at start, %.1f at end, on %d CPU", h.LoadStart, h.LoadEnd, h.CPUs)
	if h.CPUPressure[0] >= 0 {
		fmt.Fprintf(w, "; pressure (some, avg10) cpu %.0f%%→%.0f%%, io %.0f%%→%.0f%%",
			h.CPUPressure[0], h.CPUPressure[1], h.IOPressure[0], h.IOPressure[1])
	}
	fmt.Fprintln(w)
	if max(h.LoadStart, h.LoadEnd) > float64(h.CPUs)/2 || max(h.CPUPressure[0], h.CPUPressure[1], h.IOPressure[0], h.IOPressure[1]) > 20 {
		fmt.Fprintln(w, "NOTE: other work was running on this machine; every number below is noisier and slower than on a quiet one.")
	}
	fmt.Fprintln(w)
	if h.WorkFS == "tmpfs" || h.WorkFS == "ramfs" {
		fmt.Fprintf(w, "WARNING: %s is %s: fsync costs nothing there, durability numbers mean nothing. Use -workdir on a disk.\n\n", h.WorkDir, h.WorkFS)
	}

	head := []string{"what", "ours", "anchor", "ratio", "goal", "ok?"}
	cells := [][]string{head}
	for _, r := range rows {
		ok := string(r.Status)
		if ok == "" {
			ok = "—"
		}
		cells = append(cells, []string{r.What, dash(r.Ours), dash(r.Anchor), dash(r.Ratio), dash(r.Goal), ok})
	}
	width := make([]int, len(head))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		for i, s := range c {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(s)
			if i < len(c)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(s)))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(cells[0])
	var sep []string
	for _, n := range width {
		sep = append(sep, strings.Repeat("-", n))
	}
	fmt.Fprintln(w, strings.Join(sep, "-|-"))
	for _, c := range cells[1:] {
		line(c)
	}

	var notes []string
	for _, r := range rows {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("- %s: %s", r.What, r.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	var missed, open []string
	for _, r := range rows {
		switch r.Status {
		case StatusMissed, StatusError:
			missed = append(missed, r.What)
		case StatusTodo, StatusMissing, StatusSkipped:
			open = append(open, r.What)
		}
	}
	fmt.Fprintln(w)
	if len(missed) > 0 {
		fmt.Fprintf(w, "MISSED (%d): %s\n", len(missed), strings.Join(missed, "; "))
	}
	if len(open) > 0 {
		fmt.Fprintf(w, "not measured (%d): %s\n", len(open), strings.Join(open, "; "))
	}
	if len(missed) == 0 {
		fmt.Fprintln(w, "every measured goal met.")
	}
	fmt.Fprintln(w, "(a report: the exit status is 0 whatever the numbers)")
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// Latencies summarises a set of durations.
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
	Mean          time.Duration
}

func summarize(d []time.Duration) Latencies {
	if len(d) == 0 {
		return Latencies{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	return Latencies{N: len(s), P50: pct(s, 50), P99: pct(s, 99), Max: s[len(s)-1], Mean: sum / time.Duration(len(s))}
}

// pct reports the q-th percentile of sorted s (nearest rank).
func pct(s []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q/100*float64(len(s)))) - 1
	return s[max(0, min(len(s)-1, i))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMs prints a duration in milliseconds with sensible precision.
func fmtMs(d time.Duration) string {
	v := ms(d)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// fmtInt prints n with thousands separators: 12,345.
func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtRatio(r float64) string {
	switch {
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// Cleanups run at the end, or at once on SIGINT/SIGTERM, last first,
// each exactly once.
var cleanups struct {
	sync.Mutex
	fns []func()
}

func cleanupOnExit(fn func()) func() {
	var once sync.Once
	f := func() { once.Do(fn) }
	cleanups.Lock()
	cleanups.fns = append(cleanups.fns, f)
	cleanups.Unlock()
	return f
}

func runCleanups() {
	cleanups.Lock()
	defer cleanups.Unlock()
	for i := len(cleanups.fns) - 1; i >= 0; i-- {
		cleanups.fns[i]()
	}
	cleanups.fns = nil
}
