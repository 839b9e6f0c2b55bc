package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/totpd/totpd/daemon/names"
	"github.com/totpd/totpd/daemon/store"
)

// kv is the etcd side of Fleet: the keys, the sealing and one request
// each, every one bounded by the timeout. Its errors from etcd itself
// wrap errEtcd, which is what sends the host offline; a record that does
// not open is store.ErrCorrupt, which denies that user only.
type kv struct {
	// cli is set once Fleet.dial has made the client: until then every
	// request fails as etcd not answering (an RBAC client authenticates
	// as it is made, which needs etcd).
	cli     atomic.Pointer[clientv3.Client]
	prefix  string
	sealer  *store.Sealer
	timeout time.Duration
}

// errEtcd wraps every error that etcd (or the way to it) gave.
var errEtcd = errors.New("etcd")

// errNotDialled is the error of a request made before Fleet.dial made
// the client.
var errNotDialled = fmt.Errorf("%w: not yet connected", errEtcd)

// client reports the etcd client, or errNotDialled.
func (k *kv) client() (*clientv3.Client, error) {
	if c := k.cli.Load(); c != nil {
		return c, nil
	}
	return nil, errNotDialled
}

// errNotCurrent is put's error when the key is no longer at the revision
// the write was conditioned on.
var errNotCurrent = errors.New("the record changed in etcd since it was read")

// pageSize is how many records one read of the whole prefix asks for.
const pageSize = 500

func (k *kv) usersPrefix() string { return k.prefix + "users/" }

func (k *kv) userKey(user string) string { return k.usersPrefix() + user }

func (k *kv) keyCheckKey() string { return k.prefix + "keycheck" }

// userOf returns the user a key under usersPrefix names, or an error for
// a key that is not one (written by hand, or by something else).
func (k *kv) userOf(key []byte) (string, error) {
	user, ok := strings.CutPrefix(string(key), k.usersPrefix())
	if !ok {
		return "", fmt.Errorf("key %q is not under %s", key, k.usersPrefix())
	}
	if err := names.Check(user); err != nil {
		return "", fmt.Errorf("key %q does not name a user: %w", key, err)
	}
	return user, nil
}

func (k *kv) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, k.timeout)
}

func etcdErr(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer within the timeout (etcd down or unreachable, or a TLS handshake refused: check the endpoints, ca_file, cert_file and key_file)", errEtcd, what)
	}
	return fmt.Errorf("%w: %s: %v", errEtcd, what, err)
}

// get reads user's record linearizably: the answer reflects every write
// any host made before it.
func (k *kv) get(ctx context.Context, user string) (store.Record, bool, int64, error) {
	cli, err := k.client()
	if err != nil {
		return store.Record{}, false, 0, err
	}
	ctx, cancel := k.ctx(ctx)
	defer cancel()
	resp, err := cli.Get(ctx, k.userKey(user))
	if err != nil {
		return store.Record{}, false, 0, etcdErr("reading the record of "+user, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Record{}, false, 0, nil
	}
	v := resp.Kvs[0]
	rec, err := k.sealer.OpenRecord(user, v.Value)
	if err != nil {
		return store.Record{}, false, 0, fmt.Errorf("the record in etcd at %s: %w", v.Key, err)
	}
	return rec, true, v.ModRevision, nil
}

// put writes rec if its key is still at rev (0: absent) and returns the
// new revision; errNotCurrent if it is not.
func (k *kv) put(ctx context.Context, rec store.Record, rev int64) (int64, error) {
	cli, err := k.client()
	if err != nil {
		return 0, err
	}
	sealed, err := k.sealer.SealRecord(rec)
	if err != nil {
		return 0, err
	}
	ctx, cancel := k.ctx(ctx)
	defer cancel()
	key := k.userKey(rec.User)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(sealed))).
		Commit()
	if err != nil {
		return 0, etcdErr("writing the record of "+rec.User, err)
	}
	if !resp.Succeeded {
		return 0, errNotCurrent
	}
	return resp.Header.Revision, nil
}

// users lists the users with a key, sorted (etcd's key order).
func (k *kv) users(ctx context.Context) ([]string, error) {
	var out []string
	err := k.scan(ctx, true, func(user string, _ []byte, _ int64) { out = append(out, user) })
	return out, err
}

// scan calls fn for every record under the prefix, in key order, as of
// one revision, which it returns: a watch from the revision after it
// misses nothing. keysOnly leaves the values out. Keys that do not name
// a user are skipped (and said once).
func (k *kv) scan(ctx context.Context, keysOnly bool, fn func(user string, value []byte, modRev int64)) error {
	_, err := k.scanRev(ctx, keysOnly, fn)
	return err
}

func (k *kv) scanRev(ctx context.Context, keysOnly bool, fn func(user string, value []byte, modRev int64)) (int64, error) {
	cli, err := k.client()
	if err != nil {
		return 0, err
	}
	end := clientv3.GetPrefixRangeEnd(k.usersPrefix())
	from := k.usersPrefix()
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		c, cancel := k.ctx(ctx)
		resp, err := cli.Get(c, from, opts...)
		cancel()
		if err != nil {
			return 0, etcdErr("listing the records under "+k.usersPrefix(), err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, v := range resp.Kvs {
			if user, err := k.userOf(v.Key); err == nil {
				fn(user, v.Value, v.ModRevision)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// ping reads the key check linearizably: an answer needs a quorum.
func (k *kv) ping(ctx context.Context) error {
	cli, err := k.client()
	if err != nil {
		return err
	}
	c, cancel := k.ctx(ctx)
	defer cancel()
	if _, err := cli.Get(c, k.keyCheckKey(), clientv3.WithKeysOnly()); err != nil {
		return etcdErr("reading "+k.keyCheckKey(), err)
	}
	return nil
}

// checkKey compares the master key with the cluster's key check, which
// the first host to start writes. A different key is an error wrapping
// store.ErrWrongKey: the host must not start, since it could neither
// read the cluster's records nor write ones the others can read.
func (k *kv) checkKey(ctx context.Context) error {
	cli, err := k.client()
	if err != nil {
		return err
	}
	key := k.keyCheckKey()
	c, cancel := k.ctx(ctx)
	defer cancel()
	resp, err := cli.Txn(c).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(k.sealer.SealKeyCheck()))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return etcdErr("reading the key check "+key, err)
	}
	if resp.Succeeded {
		return nil // the first host of the cluster: its key is the cluster's
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 1 && k.sealer.CheckKey(kvs[0].Value) == nil {
		return nil
	}
	return fmt.Errorf("%w: this host's master key is not the one the etcd cluster's records are sealed under (key check %s): "+
		"every host of a cluster needs the same master key; copy it from a host of the cluster (the totpd.key credential or master_key_file) and start again",
		store.ErrWrongKey, key)
}
