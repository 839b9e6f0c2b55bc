package main

// This file starts the bench's daemon with its 10,000 users and enrolls them.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/totp"
)

func newDaemonEnv(b *Bench, totpd string) (*daemonEnv, error) {
	return newDaemonEnvIn(b, totpd, "daemon")
}

// newDaemonEnvIn lays out a daemon in the scratch directory name, with
// b.Users accounts and the local store (writeConfig adds to that).
func newDaemonEnvIn(b *Bench, totpd, name string) (*daemonEnv, error) {
	dir := filepath.Join(b.WorkDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &daemonEnv{b: b, dir: dir, socket: filepath.Join(dir, "totpd.sock"), lastStep: -1}
	var err error
	etc := filepath.Join(dir, "etc")
	_, _, names, err := fakeUsers(etc, b.Users)
	if err != nil {
		return nil, err
	}
	d.names = names
	cfg := filepath.Join(dir, "totpd.toml")
	d.spec.config = cfg
	if err := d.writeConfig(""); err != nil {
		return nil, err
	}
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, err
	}
	// Keep the bench's tens of thousands of audit records out of the
	// host's journal, and keep nscd (which reads the real files) out of
	// the way: inside the namespace both directories are empty.
	var hide []string
	for _, h := range []string{"/run/systemd/journal", "/run/nscd"} {
		if fi, err := os.Stat(h); err == nil && fi.IsDir() {
			hide = append(hide, h)
		}
	}
	n, err := hostkit.ListenNotify(filepath.Join(dir, "notify.sock"))
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "totpd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.Close()
		return nil, err
	}
	d.spec = procSpec{
		totpd: totpd, config: cfg, etcOverlay: etc,
		hide: hide, emptyDir: empty, notify: n, log: logf,
		readyTimeout: 30 * time.Second, registerCleanup: true,
	}
	d.cl = client.New(d.socket, 10*time.Second)
	return d, nil
}

// writeConfig writes the daemon's configuration, with extra (a
// [cluster] table, say) at its end; it takes effect at the next start.
func (d *daemonEnv) writeConfig(extra string) error {
	conf := fmt.Sprintf(`# totpd bench: a throwaway daemon
socket          = %q
state_dir       = %q
master_key_file = %q
admin_group     = ""
issuer          = "totpd-bench"

[totp]
window = 1

[lockout]
max_failures = 1000   # failure verifications in the bench must not lock anyone
duration     = "15m"

[policy]
require = "none"
`, d.socket, filepath.Join(d.dir, "state"), filepath.Join(d.dir, "master.key"))
	if extra != "" {
		conf += "\n" + extra
	}
	return os.WriteFile(d.spec.config, []byte(conf), 0o644)
}

func (d *daemonEnv) close() {
	if d.proc != nil {
		d.proc.stopped()
	}
	d.spec.notify.Close()
	d.spec.log.Close()
}

func (d *daemonEnv) start(ctx context.Context) (*daemonProc, error) {
	return startDaemon(ctx, d.spec)
}

// firstAnswer asks a read-only question and reports when the answer came.
func (d *daemonEnv) firstAnswer(ctx context.Context) (time.Time, error) {
	_, err := d.cl.Call(ctx, wire.Request{Op: wire.OpLoginQuery, User: d.names[0], Service: "totpd-bench"})
	at := time.Now()
	if err != nil {
		return at, fmt.Errorf("first request after start: %w", err)
	}
	return at, nil
}

// enrollAll enrolls every account with admin.enroll and keeps the secrets.
func (d *daemonEnv) enrollAll(ctx context.Context, clients int) (time.Duration, error) {
	d.users = make([]benchUser, len(d.names))
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(d.names) || ctx.Err() != nil {
					return
				}
				u, err := d.enroll(ctx, d.names[i])
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				d.users[i] = u
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return took, firstErr
}

func (d *daemonEnv) enroll(ctx context.Context, name string) (benchUser, error) {
	resp, err := d.cl.Call(ctx, wire.Request{Op: wire.OpUserEnroll, User: name})
	if err != nil {
		return benchUser{}, fmt.Errorf("enrolling %s: %w", name, err)
	}
	if resp.Enrollment == nil || resp.Enrollment.URI == "" {
		return benchUser{}, fmt.Errorf("enrolling %s: the answer has no enrollment URI", name)
	}
	k, err := totp.ParseURI(resp.Enrollment.URI)
	if err != nil {
		// The error may quote the URI, which holds the secret: say less.
		return benchUser{}, fmt.Errorf("enrolling %s: the answer's URI does not parse", name)
	}
	return benchUser{name: name, secret: k.Secret, params: k.Params}, nil
}

// code reports u's code for the step of now.
func (u *benchUser) code(now time.Time) (string, int64) {
	st := u.params.Step(now)
	c, err := u.params.CodeAt(u.secret, st)
	if err != nil {
		panic(err) // the params came from the daemon's URI and parsed
	}
	return c, st
}

// wrongCode reports a well-formed code that matches no step near now
// (the daemon looks at most window + max drift steps away).
func (u *benchUser) wrongCode(now time.Time) string {
	st := u.params.Step(now)
	near := map[string]bool{}
	for s := st - 8; s <= st+8; s++ {
		c, _ := u.params.CodeAt(u.secret, s)
		near[c] = true
	}
	good, _ := u.params.CodeAt(u.secret, st)
	mod := 1
	for range u.params.Digits {
		mod *= 10
	}
	var v int
	fmt.Sscan(good, &v)
	for k := 1; ; k++ {
		c := fmt.Sprintf("%0*d", u.params.Digits, (v+k*123457)%mod)
		if !near[c] {
			return c
		}
	}
}

// waitQuiet waits (up to a minute) until no checkpoint of the daemon is
// in progress — a checkpoint keeps the old journals until it is done — and
// flushes the file system, so that each timed run starts from a quiet
// daemon and pays for the checkpoints its own writes start.
func (d *daemonEnv) waitQuiet(ctx context.Context) {
	state := filepath.Join(d.dir, "state")
	deadline := time.Now().Add(time.Minute)
	said := false
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := 0
		ents, _ := os.ReadDir(state)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "journal-") {
				n++
			}
		}
		if n <= 1 {
			break
		}
		if !said {
			d.b.Progressf("waiting for the daemon's checkpoint in progress to finish")
			said = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	syncfs(d.dir)
}

// waitFreshStep sleeps until the TOTP step is after every step accepted
// so far, so that every user's current code is fresh again.
func (d *daemonEnv) waitFreshStep(ctx context.Context) error {
	p := d.users[0].params
	if d.lastStep < 0 || p.Step(time.Now()) > d.lastStep {
		return nil
	}
	until := p.StepTime(d.lastStep + 1).Add(20 * time.Millisecond)
	d.b.Progressf("waiting %.0f s for the next TOTP step (each user's code is accepted once per step)", time.Until(until).Seconds())
	select {
	case <-time.After(time.Until(until)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *daemonEnv) noteStep(st int64) {
	if st > d.lastStep {
		d.lastStep = st
	}
}

// outcome names what one verification got: "ok", a wire error code, or
// "unavailable" (transport).
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return "unavailable"
}

func fmtOutcomes(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", fmtInt(int64(m[k])), k))
	}
	return strings.Join(parts, ", ")
}
