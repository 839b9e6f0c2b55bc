// Package daemon runs totpd: it loads the configuration and the master
// key, opens the state, takes its socket from systemd or binds it,
// serves until told to stop, and reloads the configuration on SIGHUP.
// systemd activation and sd_notify come in through Options so tests can
// drive them.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/totpd/totpd/daemon/logf"

	"github.com/coreos/go-systemd/v22/activation"
	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/metrics"
	"github.com/totpd/totpd/daemon/server"
	"github.com/totpd/totpd/daemon/store"
)

// defaultConfigPath is the path Options.ConfigPath "" stands for:
// config.DefaultPath, except in tests, which must not read or write /etc.
var defaultConfigPath = config.DefaultPath

// Options are what Run needs from its surroundings; zero fields get the real thing.
type Options struct {
	// ConfigPath is the configuration file; "" means config.DefaultPath, which
	// may be missing at start (defaults apply). A path given explicitly
	// must exist, and at a reload any path must: see loadConfig.
	ConfigPath string
	// Listeners reports sockets passed by systemd; nil: go-systemd activation.
	Listeners func() ([]net.Listener, error)
	// Notify sends an sd_notify state; nil: go-systemd SdNotify.
	Notify func(state string) error
	// Signals delivers SIGHUP (reload) and SIGTERM/SIGINT (stop).
	Signals <-chan os.Signal
	// Stderr receives log lines, the daemon's, the engine's, the server's
	// and the store's alike (one Logf over it is given to each); nil:
	// os.Stderr.
	Stderr io.Writer
	// Audit records decisions; nil: the journal, or Stderr.
	Audit audit.Logger
	// Accounts looks up users; nil: the host's (engine.Options.Accounts).
	Accounts engine.Accounts
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// CredentialsDir is $CREDENTIALS_DIRECTORY; "" reads the environment.
	CredentialsDir string
	// MetricsPeriod is how often metrics_file is rewritten; 0:
	// metrics.DefaultPeriod (15 s). Tests make it short.
	MetricsPeriod time.Duration
}

// Run starts totpd and serves until ctx is done or a stop signal comes.
// It reports an error when it cannot start or stops abnormally.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	logf := logf.To(o.Stderr)

	defaultsIfMissing := o.ConfigPath == ""
	if o.ConfigPath == "" {
		o.ConfigPath = defaultConfigPath
	}
	cfg, err := loadConfig(o.ConfigPath, defaultsIfMissing)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Cluster.Backend == config.BackendEtcd {
		if !fleetBuiltIn {
			return execFleet() // returns only on error
		}
		fleetMemory()
	}
	key, err := store.LoadMasterKey(o.CredentialsDir, cfg.MasterKeyFile)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	// One registry of metrics, fed by the audit of every decision (the
	// engine's and the server's alike) and by the store's fdatasyncs.
	reg := metrics.New()
	aud := reg.Audit(o.Audit)
	st, err := store.Open(cfg.StateDir, key, store.Options{KeySource: keySource(o.CredentialsDir, cfg.MasterKeyFile), Logf: logf,
		SyncObserver: reg.ObserveSync})
	var sealer *store.Sealer
	if err == nil && cfg.Cluster.Backend == config.BackendEtcd {
		sealer, err = store.NewSealer(key)
	}
	clear(key)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			logf("closing the state: %v", err)
		}
	}()

	ln, err := listen(o, cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var eng *engine.Engine
	backend := engine.Local(st)
	var fleet *runningFleet
	if cfg.Cluster.Backend == config.BackendEtcd {
		// The engine is made before the first contact with etcd, which
		// may write back offline decisions and so apply its lockout rule.
		if fleet, err = newFleet(o, cfg, sealer, st, logf, func(r *store.Record, n int) { eng.AddFailures(r, n) }); err != nil {
			return err
		}
		backend = fleet.Fleet
	}
	eng = engine.New(cfg, backend, engine.Options{Accounts: o.Accounts, Audit: aud, Now: o.Now, Logf: logf, Metrics: reg.Text})
	if fleet != nil {
		if err := fleet.start(ctx); err != nil {
			return err
		}
		// Stopped before the store closes (deferred after it): the watch
		// writes the local copy.
		defer fleet.stop()
	}
	reg.SetUsers(eng.CountUsers)
	srv := &server.Server{Engine: eng, Audit: aud, Logf: logf}

	// metrics_file, read from the configuration in force at each write.
	// Stopped (deferred after st.Close, so run before it) before the
	// store closes, since each write reads every user's record.
	mfw := &metrics.FileWriter{Path: func() string { return eng.Config().MetricsFile }, Text: reg.Text, Period: o.MetricsPeriod, Logf: logf}
	mctx, mstop := context.WithCancel(ctx)
	mdone := make(chan struct{})
	go func() { defer close(mdone); mfw.Run(mctx) }()
	defer func() { mstop(); <-mdone }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	notify(o, logf, "READY=1\nSTATUS=serving on "+ln.Addr().String())
	logf("ready: serving on %s, state in %s", ln.Addr(), cfg.StateDir)
	for {
		select {
		case <-ctx.Done():
			notify(o, logf, "STOPPING=1")
			return <-served
		case err := <-served:
			return err
		case sig := <-o.Signals:
			if sig == syscall.SIGHUP {
				cfg = reload(o, logf, eng, cfg)
				continue
			}
			logf("stopping on %v", sig)
			notify(o, logf, "STOPPING=1")
			cancel()
			return <-served
		}
	}
}

// loadConfig reads and checks the configuration file at path: the one
// check of start and reload. A file that is missing, not a regular file,
// unreadable, writable by its group or every user, owned by a user other
// than root, or not a valid configuration is an error (config.Load says
// which). Only when defaultsIfMissing is set, that is at start without
// --config, does a missing file give the defaults, as totpd(8) documents.
func loadConfig(path string, defaultsIfMissing bool) (config.Config, error) {
	cfg, err := config.LoadOrDefault(path, !defaultsIfMissing)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, fmt.Errorf("%w: put the configuration file there (see totpd.toml(5))", err)
	}
	return cfg, err
}

// reload applies a new configuration, or keeps the old one and says why.
// Paths that were opened at start only change with a restart.
//
// A reload never falls back to the defaults: a file that is gone (moved
// away, deleted, a dangling symlink) keeps the configuration in force, like
// any other bad file. The defaults are the loosest policy (require = "none"),
// so falling back would let a missing file switch the second factor off.
func reload(o Options, logf func(string, ...any), eng *engine.Engine, old config.Config) config.Config {
	notify(o, logf, "RELOADING=1")
	defer notify(o, logf, "READY=1")
	cfg, err := loadConfig(o.ConfigPath, false)
	if err != nil {
		logf("reload failed, keeping the configuration in force (require = %q) until a reload succeeds; fix the file and reload again: %v",
			old.Policy.Require, err)
		// A joined error has one problem a line; sd_notify takes one STATUS line.
		notify(o, logf, "STATUS=reload failed, old configuration kept: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return old
	}
	for _, k := range []struct{ name, was, now string }{
		{"socket", old.Socket, cfg.Socket},
		{"state_dir", old.StateDir, cfg.StateDir},
		{"master_key_file", old.MasterKeyFile, cfg.MasterKeyFile},
	} {
		if k.was != k.now {
			logf("reload: %s changed from %q to %q; that takes effect at the next restart", k.name, k.was, k.now)
		}
	}
	if !reflect.DeepEqual(old.Cluster, cfg.Cluster) {
		logf("reload: the [cluster] table changed; that takes effect at the next restart")
	}
	cfg.Socket, cfg.StateDir, cfg.MasterKeyFile, cfg.Cluster = old.Socket, old.StateDir, old.MasterKeyFile, old.Cluster
	eng.SetConfig(cfg)
	logf("reloaded %s", o.ConfigPath)
	notify(o, logf, "STATUS=configuration reloaded")
	return cfg
}

func notify(o Options, logf func(string, ...any), state string) {
	if err := o.Notify(state); err != nil {
		logf("sd_notify: %v", err)
	}
}

// keySource names where LoadMasterKey took the key from, so that a
// wrong-key error points at the file actually used.
func keySource(credDir, keyFile string) string {
	if credDir != "" {
		cred := filepath.Join(credDir, store.CredentialName)
		if _, err := os.Stat(cred); err == nil {
			return cred
		}
	}
	return keyFile
}

// listen takes the socket systemd passed, or binds cfg.Socket.
func listen(o Options, cfg config.Config) (net.Listener, error) {
	lns, err := o.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	for _, l := range lns {
		if l != nil && l.Addr().Network() == "unix" {
			return l, nil
		}
	}
	if len(lns) > 0 {
		return nil, errors.New("socket activation passed no Unix stream socket: check ListenStream= in totpd.socket")
	}
	return bind(cfg.Socket)
}

// bind creates the socket at path, world-connectable: every user must
// reach the daemon to enroll, and SO_PEERCRED decides what each may do.
// A stale socket from an earlier run is replaced; anything else at path
// is an error rather than something to delete.
func bind(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket's directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it or set socket in the config", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another totpd is already serving on %s", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("binding %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("making %s connectable: %w", path, err)
	}
	return ln, nil
}

func (o *Options) defaults() {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Listeners == nil {
		o.Listeners = func() ([]net.Listener, error) { return activation.Listeners() }
	}
	if o.Notify == nil {
		o.Notify = func(state string) error { _, err := sddaemon.SdNotify(false, state); return err }
	}
	if o.Audit == nil {
		if o.Stderr != os.Stderr {
			o.Audit = audit.NewWriter(o.Stderr)
		} else {
			o.Audit = audit.New()
		}
	}
	if o.CredentialsDir == "" {
		o.CredentialsDir = os.Getenv("CREDENTIALS_DIRECTORY")
	}
	if o.Signals == nil {
		o.Signals = make(chan os.Signal)
	}
}
