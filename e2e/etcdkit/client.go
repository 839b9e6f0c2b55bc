package etcdkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/totpd/totpd/e2e/testutils"
)

// ClientOptions say who a test's client is.
type ClientOptions struct {
	// Members are the members whose endpoints the client uses; none
	// means all of them.
	Members []int
	// User and Password authenticate the client (an RBAC cluster's
	// limited user, say); empty means no password authentication.
	User, Password string
	// Root authenticates as the harness's root user (RBAC clusters),
	// in place of User and Password.
	Root bool
	// NoCert leaves the client certificate out (TLS clusters), to see
	// the cluster refuse such a client.
	NoCert bool
	// DialTimeout bounds the connection and, with a password, the
	// authentication that New makes; 0 means 5 s.
	DialTimeout time.Duration
}

// Client is an etcd v3 client for the test, closed at its cleanup. With
// User and Password it authenticates at once, so a wrong or missing
// password shows as the error here; a refused TLS handshake shows on the
// first request. Its log is silenced: the client's retry warnings while
// a member is down would bury the test's own output.
func (c *Cluster) Client(o ClientOptions) (*clientv3.Client, error) {
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	cli, err := c.newClient(o, o.DialTimeout)
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli, nil
}

func (c *Cluster) newClient(o ClientOptions, dial time.Duration) (*clientv3.Client, error) {
	cfg := clientv3.Config{DialTimeout: dial, Logger: zap.NewNop(), Username: o.User, Password: o.Password}
	if o.Root {
		cfg.Username, cfg.Password = "root", c.rootPass
	}
	if len(o.Members) == 0 {
		cfg.Endpoints = c.Endpoints()
	}
	for _, i := range o.Members {
		cfg.Endpoints = append(cfg.Endpoints, c.member(i).clientURL)
	}
	if c.opts.TLS {
		tc, err := c.tls.clientTLS(!o.NoCert)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}

// WaitHealthy polls until every member the harness has running reports
// the same leader and answers a linearizable read through its own
// endpoint (which needs a quorum, and the member caught up with the
// leader: a restarted member has rejoined), or deadline passes. A member
// that exits meanwhile ends the wait at once. It reports an error rather
// than failing the test, since "not healthy" is what an offline-mode test
// may expect.
func (c *Cluster) WaitHealthy(deadline time.Time) error {
	for {
		err := c.healthy()
		if err == nil {
			return nil
		}
		var ex *exitError
		if errors.As(err, &ex) || errors.Is(err, errPortTaken) || time.Now().After(deadline) {
			return fmt.Errorf("the etcd cluster is not healthy by %s: %w", deadline.Format(time.TimeOnly), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type exitError struct{ msg string }

func (e *exitError) Error() string { return e.msg }

func (c *Cluster) healthy() error {
	var leader uint64
	up := 0
	for i, m := range c.members {
		if !m.up {
			continue
		}
		up++
		select {
		case <-m.done:
			log := tail(m.logFile, 8)
			if strings.Contains(log, "address already in use") {
				return fmt.Errorf("%s exited: %w:\n%s", m.name, errPortTaken, log)
			}
			return &exitError{fmt.Sprintf("%s (pid %d) exited unasked; end of %s:\n%s", m.name, m.cmd.Process.Pid, m.logFile, log)}
		default:
		}
		l, err := c.memberHealth(i)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", m.name, m.clientURL, err)
		}
		if leader != 0 && l != leader {
			return fmt.Errorf("members disagree on the leader (%x, %x)", leader, l)
		}
		leader = l
	}
	if up == 0 {
		return &exitError{"no member is running: Restart one"}
	}
	return nil
}

// memberHealth asks member i alone for its status and a linearizable
// read, and reports its leader's id. It sends no password: on an RBAC
// cluster etcd refuses the read only after the Raft round trip that a
// linearizable read makes, so "permission denied" and "user name is
// empty" also prove the member serves (etcdctl endpoint health reasons
// the same way), and no bcrypt-costly authentication is made per poll.
// A fresh client each time: a long-lived one would back off from a
// killed member and lag behind its restart.
func (c *Cluster) memberHealth(i int) (uint64, error) {
	cli, err := c.newClient(ClientOptions{Members: []int{i}}, time.Second)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, c.members[i].clientURL)
	if err != nil {
		return 0, err
	}
	if st.Leader == 0 {
		return 0, errors.New("no leader")
	}
	_, err = cli.Get(ctx, "etcdkit/health")
	if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) && !errors.Is(err, rpctypes.ErrUserEmpty) {
		return 0, err
	}
	return st.Leader, nil
}

// setupRBAC makes root, the role (readwrite on the prefix and nothing
// else) and the limited user, writes its password file, and enables auth.
func (c *Cluster) setupRBAC() error {
	c.rootPass = password()
	c.user = RBACUser{Name: c.opts.User, Password: password(), Role: c.opts.User, Prefix: c.opts.Prefix,
		PasswordFile: filepath.Join(c.base, "etcd-password")}
	if err := os.WriteFile(c.user.PasswordFile, []byte(c.user.Password+"\n"), 0o600); err != nil {
		return err
	}
	cli, err := c.newClient(ClientOptions{}, 5*time.Second)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := []struct {
		what string
		do   func() error
	}{
		{"user add root", func() error { _, err := cli.UserAdd(ctx, "root", c.rootPass); return err }},
		{"user grant-role root root", func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err }},
		{"role add " + c.user.Role, func() error { _, err := cli.RoleAdd(ctx, c.user.Role); return err }},
		{"role grant-permission --prefix " + c.user.Role + " readwrite " + c.user.Prefix, func() error {
			_, err := cli.RoleGrantPermission(ctx, c.user.Role, c.user.Prefix, clientv3.GetPrefixRangeEnd(c.user.Prefix),
				clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		}},
		{"user add " + c.user.Name, func() error { _, err := cli.UserAdd(ctx, c.user.Name, c.user.Password); return err }},
		{"user grant-role " + c.user.Name + " " + c.user.Role, func() error {
			_, err := cli.UserGrantRole(ctx, c.user.Name, c.user.Role)
			return err
		}},
		{"auth enable", func() error { _, err := cli.AuthEnable(ctx); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// password is 24 random bytes, base64url: no character a password file
// or a shell would mangle.
func password() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Etcdctl runs etcdctl against every member, with the client certificate
// (TLS) and as root (RBAC; the password goes by ETCDCTL_USER, not argv),
// and reports its standard output; the error carries its standard error.
// A missing etcdctl fails the test by testutils.Unmet's rule.
func (c *Cluster) Etcdctl(args ...string) (string, error) {
	c.t.Helper()
	if tb, ok := c.t.(testing.TB); ok {
		testutils.RequireTools(tb, "etcd-client", EtcdctlBinary)
	} else if _, err := os.Stat(EtcdctlBinary); err != nil {
		c.t.Fatalf("%s is missing (Debian: etcd-client): %v", EtcdctlBinary, err)
	}
	full := []string{"--endpoints", strings.Join(c.Endpoints(), ",")}
	if c.opts.TLS {
		full = append(full, "--cacert", c.tls.CA, "--cert", c.tls.Cert, "--key", c.tls.Key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, EtcdctlBinary, append(full, args...)...)
	cmd.Env = append(cleanEnv(), "ETCDCTL_API=3")
	if c.opts.RBAC {
		cmd.Env = append(cmd.Env, "ETCDCTL_USER=root:"+c.rootPass)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("etcdctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ClusterTOML is a totpd [cluster] table for this cluster, in PRODUCT.md
// §8's keys (endpoints, prefix, TLS files, RBAC user and password file),
// followed by extra lines (`offline = "deny"`, `timeout = "1s"` …).
func (c *Cluster) ClusterTOML(extra ...string) string {
	var b strings.Builder
	b.WriteString("[cluster]\nbackend = \"etcd\"\nendpoints = [")
	for i, ep := range c.Endpoints() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", ep)
	}
	b.WriteString("]\n")
	fmt.Fprintf(&b, "prefix = %q\n", c.opts.Prefix)
	if c.opts.TLS {
		fmt.Fprintf(&b, "ca_file = %q\ncert_file = %q\nkey_file = %q\n", c.tls.CA, c.tls.Cert, c.tls.Key)
	}
	if c.opts.RBAC {
		fmt.Fprintf(&b, "username = %q\npassword_file = %q\n", c.user.Name, c.user.PasswordFile)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}
