package e2e

// Fleet mode's sealing and trust (PRODUCT.md §8): etcd never holds a
// secret, a code or a recovery code in clear; a record moved to another
// user's key does not open; TLS with client certificates and an RBAC
// user limited to the prefix; a host with another master key does not
// start; a host's users from before fleet mode move into the cluster.

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/etcdkit"
)

// TestFleetNoSecretsInEtcd: what `etcdctl get --prefix /totpd/` shows
// holds the user's record but neither the secret (Base32, or its bytes
// raw, in base64 or in hex), nor a code used, nor a recovery code, nor
// any field of the record in clear. The record copied (as etcd's root)
// to another user's key does not open: that user, enrolled or not, is
// refused with "state", also for the victim's code, and the victim's own
// login goes on.
func TestFleetNoSecretsInEtcd(t *testing.T) {
	t.Parallel()
	b := setup(t, "etcd")
	f := startFleet(t, b, fleetOptions{})
	a, bh := f.hosts[0], f.hosts[1]
	alice, mallory, carol := newUser(t), newUser(t), newUser(t) // carol: not enrolled
	ea, em := a.Enroll(alice.Name), bh.Enroll(mallory.Name)
	step := stableStep(t, 2*time.Second)
	code := codeForStep(t, ea.Secret, step)
	_, err := bh.Verify(alice.Name, code)
	require.NoError(t, err)

	out, err := f.etcd.Etcdctl("get", "--prefix", "/totpd/")
	require.NoError(t, err)
	aliceKey := "/totpd/users/" + alice.Name
	require.Contains(t, out, aliceKey, "etcd holds alice's record")
	require.Contains(t, out, "/totpd/keycheck")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(ea.Secret, "=")))
	require.NoError(t, err, "the secret is Base32")
	for name, s := range map[string]string{
		"the Base32 secret": ea.Secret, "the secret's bytes": string(raw),
		"the secret in base64": base64.StdEncoding.EncodeToString(raw), "the secret in base64url": base64.RawURLEncoding.EncodeToString(raw),
		"the secret in hex": hex.EncodeToString(raw),
	} {
		require.False(t, bytes.Contains(bytes.ToLower([]byte(out)), bytes.ToLower([]byte(s))), "%s is in etcd", name)
	}
	requireNoSecrets(t, out, append(append([]string{ea.Secret, em.Secret}, ea.RecoveryCodes...), em.RecoveryCodes...), []string{code})
	for _, field := range []string{`"secret"`, `"last_step"`, `"recovery"`, `"failures"`, `"user"`} {
		require.NotContains(t, out, field, "a field of the record in clear")
	}

	cli, err := f.etcd.Client(etcdkit.ClientOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := cli.Get(ctx, aliceKey)
	require.NoError(t, err)
	require.Len(t, got.Kvs, 1)
	for _, victim := range []account{mallory, carol} {
		_, err := cli.Put(ctx, "/totpd/users/"+victim.Name, string(got.Kvs[0].Value))
		require.NoError(t, err)
	}
	next := codeForStep(t, ea.Secret, step+1)
	for _, h := range []*daemon{a, bh} {
		_, err := h.Verify(mallory.Name, next)
		require.Equal(t, wire.ErrCodeState, errCode(err), "mallory with alice's record and alice's code, on %s: %v", h.Socket, err)
		_, err = h.Verify(carol.Name, next)
		require.Equal(t, wire.ErrCodeState, errCode(err), "carol with alice's record and alice's code, on %s: %v", h.Socket, err)
	}
	_, err = a.Verify(mallory.Name, codeForStep(t, em.Secret, step))
	require.Equal(t, wire.ErrCodeState, errCode(err), "mallory's own code does not open the copied record either: %v", err)
	_, err = a.Verify(alice.Name, next)
	require.NoError(t, err, "alice's own login goes on")
}

// TestFleetTLSRBAC: etcd over TLS with client certificates (made by the
// test), auth on, and totpd as an RBAC user whose role has readwrite on
// /totpd/ only. A host with another master key refuses to start and says
// so; the hosts with the cluster's key enroll on A and log in on B, and a
// code B took is refused on A. With all of etcd down, B (asked nothing)
// says offline, and A restarted still starts (its RBAC user cannot
// authenticate then) and decides a login from its copy; once etcd is
// back, knowing none of the RBAC tokens it issued before, both hosts
// are online again, A has written its decision back and B refuses that
// code.
func TestFleetTLSRBAC(t *testing.T) {
	t.Parallel()
	b := setup(t, "etcd")
	f := startFleet(t, b, fleetOptions{Etcd: etcdkit.Options{TLS: true, RBAC: true}, Cluster: []string{`timeout = "1s"`}, StderrAudit: true})
	a, bh := f.hosts[0], f.hosts[1]
	require.Contains(t, f.Cfg.Extra, "cert_file", "the hosts use a client certificate")
	require.Contains(t, f.Cfg.Extra, "username", "and the RBAC user")

	stranger := f.newHost(f.Cfg, "") // its own, new master key
	stranger.StartProcess()
	logs, err := stranger.WaitExit(30 * time.Second)
	require.Error(t, err, "a host with another master key does not start:\n%s", logs)
	require.Contains(t, logs, "master key", "and says it is the master key")
	cli, err := f.etcd.Client(etcdkit.ClientOptions{Root: true})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kc, err := cli.Get(ctx, "/totpd/keycheck")
	require.NoError(t, err)
	require.Len(t, kc.Kvs, 1)
	require.EqualValues(t, 1, kc.Kvs[0].Version, "the stranger did not rewrite the cluster's key check")

	u := newUser(t)
	e := a.Enroll(u.Name)
	step := stableStep(t, 2*time.Second)
	code := codeForStep(t, e.Secret, step)
	_, err = bh.Verify(u.Name, code)
	require.NoError(t, err, "enrolled on A, logged in on B, over TLS as the RBAC user")
	_, err = a.Verify(u.Name, code)
	requireReplayRefused(t, err, "B's code on A")
	out, err := f.etcd.Etcdctl("get", "--prefix", "--keys-only", "/totpd/users/")
	require.NoError(t, err)
	require.Contains(t, out, "/totpd/users/"+u.Name)

	f.KillEtcd()
	waitOffline(bh, 5*time.Second) // B, asked nothing, finds etcd gone by itself
	require.NoError(t, a.Stop())
	a.Start()
	code = codeForStep(t, e.Secret, step+1)
	_, err = a.Verify(u.Name, code)
	require.NoError(t, err, "A, started while etcd is down, decides a login from its copy")
	waitAudit(a, u.Name, 5*time.Second, "login.verify", "result=ok", "offline=true")
	st := clusterStatus(a)
	require.False(t, st.Online)
	require.Equal(t, 1, st.Pending)
	f.RestartEtcd()
	waitOnline(a, 30*time.Second)
	waitOnline(bh, 30*time.Second)
	_, err = bh.Verify(u.Name, code)
	requireReplayRefused(t, err, "the code A took offline, on B")
}

// TestFleetMoveLocalUsers: a host that ran alone (local mode, the
// cluster's master key) with an enrolled user who has logged in is
// restarted with the [cluster] table: the user moves into the cluster
// with its secret and its used step, so its next code works on another
// host and the one it used alone is refused there. A user the cluster
// already had keeps the cluster's record.
func TestFleetMoveLocalUsers(t *testing.T) {
	t.Parallel()
	b := setup(t, "etcd")
	f := startFleet(t, b, fleetOptions{})
	a := f.hosts[0]
	moved, both := newUser(t), newUser(t)
	inCluster := a.Enroll(both.Name)

	c := f.newHost(config{}, a.KeyFile) // local mode
	c.Start()
	em := c.Enroll(moved.Name)
	eb := c.Enroll(both.Name) // another secret than the cluster's
	step := stableStep(t, 2*time.Second)
	used := codeForStep(t, em.Secret, step)
	_, err := c.Verify(moved.Name, used)
	require.NoError(t, err, "a login on the host alone")
	require.Equal(t, "local", clusterStatus(c).Backend)
	require.NoError(t, c.Stop())

	c.WriteConfig(f.Cfg)
	c.Start()
	c.WaitLog(fmt.Sprintf("cluster: moved user %q of this host into the cluster", moved.Name), 10*time.Second)
	require.Equal(t, "etcd", waitOnline(c, 10*time.Second).Backend)
	require.True(t, a.Show(moved.Name).Enrolled, "A sees the moved user")
	_, err = a.Verify(moved.Name, used)
	requireReplayRefused(t, err, "the code used on the host alone, on A")
	_, err = a.Verify(moved.Name, codeForStep(t, em.Secret, step+1))
	require.NoError(t, err, "the moved user's next code works on A")

	_, err = c.Verify(both.Name, codeForStep(t, eb.Secret, step))
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the host's own secret for a user the cluster had is gone: %v", err)
	_, err = c.Verify(both.Name, codeForStep(t, inCluster.Secret, step))
	require.NoError(t, err, "the cluster's record stands")
}
