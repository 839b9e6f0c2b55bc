package etcdkit_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/totpd/totpd/e2e/etcdkit"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func client(t *testing.T, c *etcdkit.Cluster, o etcdkit.ClientOptions) *clientv3.Client {
	t.Helper()
	cli, err := c.Client(o)
	if err != nil {
		t.Fatalf("client %+v: %v", o, err)
	}
	return cli
}

func get(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	r, err := cli.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(r.Kvs) != 1 {
		t.Fatalf("get %s: %d keys, want 1", key, len(r.Kvs))
	}
	return string(r.Kvs[0].Value)
}

// leader reports the index of the member that leads.
func leader(t *testing.T, c *etcdkit.Cluster, cli *clientv3.Client) int {
	t.Helper()
	for i, ep := range c.Endpoints() {
		st, err := cli.Status(ctx(t), ep)
		if err != nil {
			t.Fatalf("status of %s: %v", ep, err)
		}
		if st.Header.MemberId == st.Leader {
			return i
		}
	}
	t.Fatal("no member says it leads")
	return -1
}

// TestCluster: three members come up on distinct loopback ports, a write
// through one is read through another, the cluster keeps answering with
// its leader killed and the leader rejoins after Restart, and StopAll
// leaves no etcd running.
func TestCluster(t *testing.T) {
	start := time.Now()
	c := etcdkit.Start(t, etcdkit.Options{})
	t.Logf("3 members healthy in %v", time.Since(start).Round(time.Millisecond))
	if c.Len() != 3 || len(c.Endpoints()) != 3 {
		t.Fatalf("%d members, endpoints %v; want 3", c.Len(), c.Endpoints())
	}
	seen := map[string]bool{}
	for i, ep := range c.Endpoints() {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || seen[u.Port()] {
			t.Fatalf("endpoint %d is %q: want http://127.0.0.1 on a port of its own", i, ep)
		}
		seen[u.Port()] = true
		if c.Pid(i) == 0 || !c.Alive(c.Pid(i)) {
			t.Fatalf("member %d has no living pid (%d)", i, c.Pid(i))
		}
	}

	a := client(t, c, etcdkit.ClientOptions{Members: []int{0}})
	b := client(t, c, etcdkit.ClientOptions{Members: []int{2}})
	if _, err := a.Put(ctx(t), "/totpd/k", "v1"); err != nil {
		t.Fatalf("put through member 0: %v", err)
	}
	if v := get(t, b, "/totpd/k"); v != "v1" {
		t.Fatalf("member 2 reads %q, want v1", v)
	}

	// What fleet mode will ask of the 3.4 server through the 3.7 client: a
	// transaction on a revision (stale loses) and a watch that sees it.
	wctx, wcancel := context.WithCancel(ctx(t))
	defer wcancel()
	r, err := a.Get(ctx(t), "/totpd/k")
	if err != nil {
		t.Fatal(err)
	}
	rev := r.Kvs[0].ModRevision
	// From rev+1: a watch started at "now" could miss a commit made before
	// the server registered it.
	w := b.Watch(wctx, "/totpd/k", clientv3.WithRev(rev+1))
	for i, want := range []bool{true, false} { // the second is decided on a stale revision
		tx, err := a.Txn(ctx(t)).If(clientv3.Compare(clientv3.ModRevision("/totpd/k"), "=", rev)).
			Then(clientv3.OpPut("/totpd/k", "tx")).Commit()
		if err != nil || tx.Succeeded != want {
			t.Fatalf("txn %d on revision %d: %+v, %v; want succeeded=%v", i, rev, tx, err, want)
		}
	}
	select {
	case ev := <-w:
		if err := ev.Err(); err != nil || len(ev.Events) != 1 || string(ev.Events[0].Kv.Value) != "tx" {
			t.Fatalf("watch on member 2: %+v, %v", ev, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch on member 2 saw no change within 10 s")
	}

	// The leader, the harder loss: the rest must elect another first.
	all := client(t, c, etcdkit.ClientOptions{})
	l := leader(t, c, all)
	oldPid := c.Pid(l)
	c.Kill(l)
	if c.Alive(oldPid) || c.Pid(l) != 0 {
		t.Fatalf("member %d (pid %d) still runs after Kill", l, oldPid)
	}
	if err := c.WaitHealthy(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatalf("two members after killing the leader: %v", err)
	}
	other := client(t, c, etcdkit.ClientOptions{Members: []int{(l + 1) % 3}})
	if _, err := other.Put(ctx(t), "/totpd/k", "v2"); err != nil {
		t.Fatalf("put with member %d killed: %v", l, err)
	}

	c.Restart(l)
	if err := c.WaitHealthy(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatalf("member %d after Restart: %v", l, err)
	}
	if c.Pid(l) == 0 || c.Pid(l) == oldPid {
		t.Fatalf("member %d's pid after Restart is %d (before: %d)", l, c.Pid(l), oldPid)
	}
	back := client(t, c, etcdkit.ClientOptions{Members: []int{l}})
	if v := get(t, back, "/totpd/k"); v != "v2" {
		t.Fatalf("restarted member %d reads %q, want v2, written while it was down", l, v)
	}

	out, err := c.Etcdctl("get", "--print-value-only", "/totpd/k")
	if err != nil || strings.TrimSpace(out) != "v2" {
		t.Fatalf("etcdctl get: %q, %v; want v2", out, err)
	}

	pids := c.Pids()
	if len(pids) != 4 {
		t.Fatalf("pids ever started: %v, want 4 (3 and a restart)", pids)
	}
	c.StopAll()
	for _, pid := range pids {
		if c.Alive(pid) {
			t.Errorf("pid %d still runs after StopAll", pid)
		}
	}
	if left := c.Leftovers(); len(left) != 0 {
		t.Errorf("etcd processes after StopAll: %v", left)
	}
	if err := c.WaitHealthy(time.Now().Add(time.Second)); err == nil {
		t.Error("WaitHealthy says healthy with every member stopped")
	}
}

// TestTLS: a client without a client certificate is refused, in the TLS
// handshake itself, and one with it reads and writes; the files are 0600.
func TestTLS(t *testing.T) {
	c := etcdkit.Start(t, etcdkit.Options{TLS: true})
	f := c.ClientTLS()
	for _, p := range []string{f.CA, f.Cert, f.Key} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", p, err, fi.Mode())
		}
	}
	if fi, err := os.Stat(filepath.Dir(f.CA)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: want a 0700 directory", filepath.Dir(f.CA))
	}
	for _, ep := range c.Endpoints() {
		if !strings.HasPrefix(ep, "https://127.0.0.1:") {
			t.Fatalf("endpoint %q: want https", ep)
		}
	}

	// Raw TLS first: the refusal is the server's, not a client quirk.
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509Pool(t, ca)
	u, _ := url.Parse(c.Endpoint(0))
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", u.Host, &tls.Config{RootCAs: pool})
	if err == nil {
		// TLS 1.3: the server checks the client's certificate after the
		// client has finished; its refusal comes as an alert on read.
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("TLS without a client certificate: %v; want a refusal naming the certificate", err)
	}
	t.Logf("without a client certificate: %v", err)

	bare := client(t, c, etcdkit.ClientOptions{NoCert: true})
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := bare.Put(short, "/totpd/k", "v"); err == nil {
		t.Fatal("a client without a client certificate could write")
	}
	withCert := client(t, c, etcdkit.ClientOptions{})
	if _, err := withCert.Put(ctx(t), "/totpd/k", "v"); err != nil {
		t.Fatalf("put with the client certificate: %v", err)
	}
	if v := get(t, withCert, "/totpd/k"); v != "v" {
		t.Fatalf("read %q, want v", v)
	}
}

// TestRBAC: the limited user writes and reads under its prefix only; a
// client without its password or with a wrong one is refused; root is not.
func TestRBAC(t *testing.T) {
	c := etcdkit.Start(t, etcdkit.Options{RBAC: true})
	u := c.User()
	b, err := os.ReadFile(u.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(u.PasswordFile); fi.Mode().Perm() != 0o600 || string(b) != u.Password+"\n" || u.Password == "" {
		t.Fatalf("password file %s: mode %v, %q; want 0600 holding the password and a newline", u.PasswordFile, fi.Mode(), b)
	}
	if u.Name != "totpd" || u.Prefix != "/totpd/" {
		t.Fatalf("user %+v: want totpd on /totpd/", u)
	}

	limited := client(t, c, etcdkit.ClientOptions{User: u.Name, Password: strings.TrimSuffix(string(b), "\n")})
	if _, err := limited.Put(ctx(t), "/totpd/alice", "x"); err != nil {
		t.Fatalf("the limited user writing under its prefix: %v", err)
	}
	if v := get(t, limited, "/totpd/alice"); v != "x" {
		t.Fatalf("read %q, want x", v)
	}
	// "/totpd" without the slash sorts before the prefix's range: it is
	// outside, as a sibling "/totpdx/" is.
	for _, key := range []string{"/other/k", "/totpd", "/totpdx/k"} {
		if _, err := limited.Put(ctx(t), key, "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("the limited user writing %s: %v; want permission denied", key, err)
		}
		if _, err := limited.Get(ctx(t), key); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("the limited user reading %s: %v; want permission denied", key, err)
		}
	}

	anon := client(t, c, etcdkit.ClientOptions{})
	if _, err := anon.Put(ctx(t), "/totpd/alice", "y"); !errors.Is(err, rpctypes.ErrUserEmpty) {
		t.Errorf("a client without a password writing under the prefix: %v; want user name is empty", err)
	}
	if _, err := c.Client(etcdkit.ClientOptions{User: u.Name, Password: u.Password + "x"}); !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Errorf("a wrong password: %v; want authentication failed", err)
	}

	root := client(t, c, etcdkit.ClientOptions{Root: true})
	if _, err := root.Put(ctx(t), "/other/k", "r"); err != nil {
		t.Fatalf("root writing outside the prefix: %v", err)
	}
	out, err := c.Etcdctl("get", "--prefix", "/")
	if err != nil || !strings.Contains(out, "/totpd/alice\nx\n") || !strings.Contains(out, "/other/k\nr\n") {
		t.Fatalf("etcdctl get --prefix / as root: %q, %v", out, err)
	}
}

// TestTLSRBAC is fleet mode's own set-up: client certificates and the
// limited user together, and the [cluster] table a totpd host would get.
func TestTLSRBAC(t *testing.T) {
	c := etcdkit.Start(t, etcdkit.Options{TLS: true, RBAC: true})
	u, f := c.User(), c.ClientTLS()
	var cfg struct {
		Cluster struct {
			Backend, Prefix, CAFile, CertFile, KeyFile, Username, PasswordFile, Offline string
			Endpoints                                                                   []string
		}
	}
	text := c.ClusterTOML(`offline = "deny"`)
	md, err := toml.Decode(strings.NewReplacer("ca_file", "CAFile", "cert_file", "CertFile", "key_file", "KeyFile",
		"password_file", "PasswordFile").Replace(text), &cfg)
	if err != nil || len(md.Undecoded()) != 0 {
		t.Fatalf("ClusterTOML:\n%s\n%v, undecoded %v", text, err, md.Undecoded())
	}
	k := cfg.Cluster
	if k.Backend != "etcd" || strings.Join(k.Endpoints, ",") != strings.Join(c.Endpoints(), ",") || k.Prefix != "/totpd/" ||
		k.CAFile != f.CA || k.CertFile != f.Cert || k.KeyFile != f.Key || k.Username != u.Name ||
		k.PasswordFile != u.PasswordFile || k.Offline != "deny" {
		t.Fatalf("ClusterTOML:\n%s", text)
	}

	limited := client(t, c, etcdkit.ClientOptions{User: u.Name, Password: u.Password})
	if _, err := limited.Put(ctx(t), "/totpd/bob", "x"); err != nil {
		t.Fatalf("the limited user with its certificate: %v", err)
	}
	if _, err := limited.Put(ctx(t), "/other/k", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("the limited user outside its prefix: %v; want permission denied", err)
	}
	// The certificate alone (CN etcdkit-client, no user) opens nothing.
	certOnly := client(t, c, etcdkit.ClientOptions{})
	if _, err := certOnly.Get(ctx(t), "/totpd/bob"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("the client certificate without a password: %v; want permission denied", err)
	}
	if _, err := c.Client(etcdkit.ClientOptions{User: u.Name, Password: u.Password, NoCert: true, DialTimeout: time.Second}); err == nil {
		t.Error("the password without a client certificate was let in")
	}
}

func x509Pool(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the CA file")
	}
	return p
}
