package store

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	crashDirEnv   = "TOTPD_STORE_CRASH_DIR"
	crashKeyEnv   = "TOTPD_STORE_CRASH_KEY"
	crashWorkers  = 8
	crashUsersPer = 4
	// Small, so that kills also land in journal rotations and checkpoints.
	crashCheckpointBytes = 24 << 10
)

// TestCrashHelper is the child process of TestCrashKill: it updates users
// as fast as it can and prints "user value" after each Put returned, until
// it is killed.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashKill")
	}
	key, err := hex.DecodeString(os.Getenv(crashKeyEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := Open(dir, key, Options{CheckpointBytes: crashCheckpointBytes, Logf: func(string, ...any) {}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var outMu sync.Mutex
	out := os.Stdout
	fmt.Fprintln(out, "ready")
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := make([]int64, crashUsersPer)
			for k := range crashUsersPer {
				r, _, err := s.Get(crashUser(w, k))
				if err != nil {
					fmt.Fprintln(os.Stderr, "get:", err)
					os.Exit(2)
				}
				vals[k] = r.LastStep
			}
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				k := i % crashUsersPer
				u := crashUser(w, k)
				vals[k]++
				if err := s.Put(testRecord(u, int(vals[k]))); err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(2)
				}
				outMu.Lock()
				fmt.Fprintf(out, "%s %d\n", u, vals[k])
				outMu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

func crashUser(w, k int) string { return fmt.Sprintf("w%d-u%d", w, k) }

// TestCrashKill runs the helper in a real process, SIGKILLs it at random
// moments, and checks after each restart that every update it acknowledged
// is there (and nothing newer than the one update that may have been in
// flight).
func TestCrashKill(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the helper")
	}
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	dir, key := t.TempDir(), newKey(t)
	acked := map[string]int64{} // highest value acknowledged per user
	totalAcks, midCheckpoint := 0, 0
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashKeyEnv+"="+hex.EncodeToString(key))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		require.NoError(t, err, "helper did not start: %s", stderr.String())
		require.Equal(t, "ready\n", line)
		time.Sleep(time.Duration(rand.IntN(100_000)) * time.Microsecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		rest, _ := io.ReadAll(r) // what it printed before dying
		err = cmd.Wait()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "helper ended by itself: %v %s", err, stderr.String())

		lines := strings.Split(string(rest), "\n")
		lines = lines[:len(lines)-1] // the last one is incomplete (or empty)
		for _, l := range lines {
			u, v, ok := strings.Cut(l, " ")
			require.True(t, ok, "line %q", l)
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			if n > acked[u] {
				acked[u] = n
			}
			totalAcks++
		}

		if len(journalFiles(t, dir)) > 1 {
			midCheckpoint++ // killed between a rotation and the end of its checkpoint
		}
		s, err := Open(dir, key, Options{Logf: func(string, ...any) {}})
		require.NoError(t, err, "round %d", round)
		for w := range crashWorkers {
			for k := range crashUsersPer {
				u := crashUser(w, k)
				got, ok, err := s.Get(u)
				require.NoError(t, err, "round %d user %s", round, u)
				if acked[u] == 0 {
					if ok {
						// Written but killed before the ack was printed:
						// the next helper continues from the value found.
						require.LessOrEqual(t, got.LastStep, int64(1))
						acked[u] = got.LastStep
					}
					continue
				}
				require.True(t, ok, "round %d: %s acknowledged %d but missing", round, u, acked[u])
				require.GreaterOrEqual(t, got.LastStep, acked[u], "round %d: %s lost an acknowledged update", round, u)
				require.LessOrEqual(t, got.LastStep, acked[u]+1, "round %d: %s has a value never written", round, u)
				requireRecord(t, s, u, int(got.LastStep))
				acked[u] = got.LastStep // the next helper continues from here
			}
		}
		if round%2 == 0 {
			require.NoError(t, s.Close())
		} else {
			s.abandon()
		}
	}
	t.Logf("%d rounds, %d acknowledged updates checked, %d kills during a checkpoint", rounds, totalAcks, midCheckpoint)
	require.Greater(t, totalAcks, rounds, "the helper made progress")
}
