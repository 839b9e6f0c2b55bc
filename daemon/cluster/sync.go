package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/totpd/totpd/daemon/store"
)

// probeEvery is how often an offline host asks etcd whether it answers
// again, and how often an online host checks that it still does when no
// login has asked.
const probeEvery = time.Second

// appliers is how many goroutines write watched records into the local
// copy; a user always goes to the same one, so its records land in order,
// and the journal's group commit takes the others' writes in one fsync.
const appliers = 8

// Start makes the first contact: the key check, the write-back of what
// the host decided offline before it stopped, the copy of the whole
// prefix, and the move of this host's users from before fleet mode into
// the cluster. A master key that differs from the cluster's is an error:
// the daemon must not start. etcd not answering is not: the host starts
// offline and keeps trying (Run).
func (f *Fleet) Start(ctx context.Context) error {
	f.loadPending()
	rev, err := f.connect(ctx)
	if errors.Is(err, store.ErrWrongKey) {
		return err
	}
	if err != nil {
		// Not even a refused RBAC password stops the daemon: a stopped
		// daemon refuses every login on the host, the console's too,
		// while offline the host still decides from its copy.
		f.state.Store(&state{since: f.o.Now(), lastErr: err.Error()})
		what := "cannot complete the first contact with etcd at %v"
		if errors.Is(err, rpctypes.ErrAuthFailed) {
			what = "etcd at %v refused the RBAC user's name or password (fix the credential " + PasswordCredential + " or password_file and restart)"
		}
		f.logf("cluster: "+what+": %v; deciding logins %s until it answers", f.o.Config.Endpoints, err, f.offlineWhat())
		return nil
	}
	f.goOnline(ctx, rev)
	return nil
}

// loadPending finds the users whose local copy has offline decisions.
func (f *Fleet) loadPending() {
	users, err := f.local.Users()
	if err != nil {
		f.logf("cluster: cannot list the local copy: %v", err)
		return
	}
	for _, u := range users {
		rec, ok, _, err := f.local.Get(u)
		if err == nil && ok && rec.Copy != nil {
			f.hasCopy.Store(true)
			if rec.Copy.Offline != nil {
				f.setPending(u, true)
			}
		}
	}
}

// Run keeps the host in step with etcd until ctx is done: it follows the
// watch while online, and probes while offline.
func (f *Fleet) Run(ctx context.Context) {
	wrongKey := false
	for ctx.Err() == nil {
		if f.online() {
			f.follow(ctx)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(probeEvery):
		case <-f.wake:
			// A request just failed: etcd is unlikely to answer at once.
			select {
			case <-ctx.Done():
				return
			case <-time.After(probeEvery):
			}
		}
		f.redial()
		rev, err := f.connect(ctx)
		switch {
		case errors.Is(err, store.ErrWrongKey):
			if !wrongKey {
				f.logf("cluster: %v; staying offline", err)
				wrongKey = true
			}
			f.goOffline(err)
		case err != nil:
			if s := f.state.Load(); s.lastErr != err.Error() {
				f.logf("cluster: still offline: %v", err)
			}
			f.goOffline(err)
		default:
			f.goOnline(ctx, rev)
		}
	}
}

// connect checks the key, writes back what was decided offline and
// brings the local copy up to date; it returns the revision to watch
// from.
func (f *Fleet) connect(ctx context.Context) (int64, error) {
	if err := f.dial(); err != nil {
		return 0, err
	}
	if err := f.kv.checkKey(ctx); err != nil {
		return 0, err
	}
	if err := f.writeBackAll(ctx); err != nil {
		return 0, err
	}
	return f.resync(ctx)
}

// goOnline switches the host online at rev: with no offline Put in
// flight (mode), after a last write-back of what was decided while
// connect ran.
func (f *Fleet) goOnline(ctx context.Context, rev int64) {
	// Offline Puts wait for the mode lock: the last pass, of what was
	// decided while connect ran (usually nothing), gets one timeout in
	// all, past which the host stays offline and tries again later.
	f.mode.Lock()
	last, cancel := context.WithTimeout(ctx, f.kv.timeout)
	err := f.writeBackAll(last)
	cancel()
	if err != nil {
		f.mode.Unlock()
		f.goOffline(err)
		return
	}
	f.hasCopy.Store(true) // connect's resync is done
	f.state.Store(&state{online: true, since: f.o.Now()})
	f.followFrom.Store(rev)
	f.mode.Unlock()
	if f.everOnline.Swap(true) {
		f.logf("cluster: online again: etcd at %v answers", f.o.Config.Endpoints)
	} else {
		f.logf("cluster: online: etcd at %v, prefix %s", f.o.Config.Endpoints, f.o.Config.Prefix)
	}
}

// writeBackAll writes back every pending user's offline decisions.
func (f *Fleet) writeBackAll(ctx context.Context) error {
	for _, u := range f.pendingUsers() {
		if err := f.writeBack(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// writeBack merges user's offline decisions into etcd's record (merge)
// and takes the result as the new local copy.
func (f *Fleet) writeBack(ctx context.Context, user string) error {
	unlock := f.lock(user)
	defer unlock()
	local, found, lver, err := f.local.Get(user)
	if err != nil {
		f.logf("cluster: the local copy of %q cannot be read, so its offline decisions cannot be written back: %v", user, err)
		f.setPending(user, false)
		return nil
	}
	if !found || local.Copy == nil || local.Copy.Offline == nil {
		f.setPending(user, false)
		return nil
	}
	for try := 0; try < 5; try++ {
		remote, rfound, rev, err := f.kv.get(ctx, user)
		if errors.Is(err, errEtcd) {
			return err
		}
		if err != nil {
			f.logf("cluster: %v; the offline decisions about %q are dropped, and offline the user is denied until etcd's record opens", err, user)
			return f.markUnreadableLocked(user, rev)
		}
		out, write := merge(remote, rfound, local, f.o.AddFailures)
		if write {
			nrev, err := f.kv.put(ctx, out, rev)
			if errors.Is(err, errNotCurrent) {
				continue
			}
			if err != nil {
				return err
			}
			rev = nrev
		}
		switch {
		case write:
			f.logf("cluster: wrote back the offline decisions about %q", user)
		case rfound:
			f.logf("cluster: user %q was enrolled anew or disabled in the cluster meanwhile; that wins over this host's offline decisions", user)
		default:
			f.logf("cluster: user %q is no longer in the cluster; this host's offline decisions about it are dropped", user)
			if err := f.o.Local.Delete(user); err != nil {
				return fmt.Errorf("dropping the local copy of %q: %w", user, err)
			}
			f.setPending(user, false)
			return nil
		}
		if !write {
			out = remote
		}
		out.Copy = &store.ClusterCopy{Rev: rev}
		if _, err := f.local.Put(out, lver); err != nil {
			return fmt.Errorf("saving the local copy of %q: %w", user, err)
		}
		f.setPending(user, false)
		return nil
	}
	return fmt.Errorf("%w: the record of %q kept changing during its write-back", errEtcd, user)
}

// resync brings every local copy up to etcd's record, moves the host's
// own users into the cluster, and returns the revision it read at. The
// records are applied by a few goroutines at once, so that the journal's
// group commit makes a first start over many users quick.
func (f *Fleet) resync(ctx context.Context) (int64, error) {
	type item struct {
		user  string
		value []byte
		rev   int64
	}
	seen := map[string]bool{}
	var items []item
	rev, err := f.kv.scanRev(ctx, false, func(user string, value []byte, modRev int64) {
		seen[user] = true
		items = append(items, item{user, value, modRev})
	})
	if err != nil {
		return 0, err
	}
	parallel(len(items), func(i int) error {
		if err := f.apply(items[i].user, items[i].value, items[i].rev); err != nil {
			f.logf("cluster: the record of %q in etcd is not in the local copy: %v", items[i].user, err)
		}
		return nil
	})
	users, err := f.local.Users()
	if err != nil {
		return 0, fmt.Errorf("listing the local copy: %w", err)
	}
	var own []string
	for _, u := range users {
		if !seen[u] {
			own = append(own, u)
		}
	}
	if err := parallel(len(own), func(i int) error { return f.adopt(ctx, own[i]) }); err != nil {
		return 0, err
	}
	return rev, nil
}

// parallel runs fn(0..n-1) on a few goroutines and returns the first
// error.
func parallel(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range min(n, 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// adopt handles a local record that etcd does not have: one from before
// fleet mode (never in etcd) moves into the cluster, create-only; a copy
// of a record since removed from etcd goes.
func (f *Fleet) adopt(ctx context.Context, user string) error {
	unlock := f.lock(user)
	defer unlock()
	rec, ok, lver, err := f.local.Get(user)
	if err != nil || !ok || rec.Copy != nil && rec.Copy.Offline != nil {
		return nil // unreadable: said by the engine at use; pending: the write-back's
	}
	if rec.Copy != nil && rec.Copy.Rev != 0 {
		f.logf("cluster: user %q was removed from the cluster; dropping this host's copy", user)
		return f.o.Local.Delete(user)
	}
	rev, err := f.kv.put(ctx, rec, 0)
	if errors.Is(err, errNotCurrent) {
		return nil // another host moved one in meanwhile: the watch brings it
	}
	if err != nil {
		return err
	}
	rec.Copy = &store.ClusterCopy{Rev: rev}
	if _, err := f.local.Put(rec, lver); err != nil {
		return fmt.Errorf("saving the local copy of %q: %w", user, err)
	}
	f.logf("cluster: moved user %q of this host into the cluster", user)
	return nil
}

// apply takes etcd's record of user at modRev as the local copy
// (copyIn). A record that does not open leaves a marker that denies the
// user offline, rather than an older copy or none (not enrolled).
func (f *Fleet) apply(user string, value []byte, modRev int64) error {
	rec, err := f.kv.sealer.OpenRecord(user, value)
	if err != nil {
		if merr := f.markUnreadable(user, modRev); merr != nil {
			return fmt.Errorf("%v; and marking its copy unreadable: %v", err, merr)
		}
		return err
	}
	return f.copyIn(rec, modRev)
}

// markUnreadable replaces user's local copy by a marker that denies the
// user offline (store.ClusterCopy.Unreadable), dropping any offline
// decisions: etcd's record is what they would have been merged into.
func (f *Fleet) markUnreadable(user string, modRev int64) error {
	unlock := f.lock(user)
	defer unlock()
	return f.markUnreadableLocked(user, modRev)
}

// markUnreadableLocked is markUnreadable with the user's lock held.
func (f *Fleet) markUnreadableLocked(user string, modRev int64) error {
	_, _, lver, _ := f.local.Get(user)
	_, err := f.local.Put(store.Record{User: user, LastStep: -1, Copy: &store.ClusterCopy{Rev: modRev, Unreadable: true}}, lver)
	f.setPending(user, false)
	return err
}

// follow watches the prefix from the revision goOnline set, applying
// each change to the local copy, until the host goes offline or the
// watch fails (then it reads the whole prefix again).
func (f *Fleet) follow(ctx context.Context) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	f.followMu.Lock()
	f.stopFollow = cancel
	f.followMu.Unlock()
	defer cancel()
	if !f.online() {
		return // went offline before stopFollow was set
	}

	var wg sync.WaitGroup
	queues := make([]chan *clientv3.Event, appliers)
	for i := range queues {
		queues[i] = make(chan *clientv3.Event, 64)
		wg.Add(1)
		go func(q chan *clientv3.Event) {
			defer wg.Done()
			for ev := range q {
				f.applyEvent(ev)
			}
		}(queues[i])
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()

	// Watch blocks until etcd has taken the watch, which it cannot while
	// it is down: it is set up beside the loop, whose ping then finds etcd
	// gone (a nil wch is never ready).
	rev := f.followFrom.Load()
	cli := f.kv.cli.Load() // online: made
	wchs := make(chan clientv3.WatchChan, 1)
	go func() {
		wchs <- cli.Watch(wctx, f.kv.usersPrefix(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	}()
	var wch clientv3.WatchChan
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-wctx.Done():
			return
		case wch = <-wchs:
		case <-tick.C:
			if err := f.kv.ping(ctx); err != nil {
				f.goOffline(err)
				return
			}
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil || resp.Canceled {
				// Compacted past rev, or no leader: read everything again.
				if nrev, err := f.resync(ctx); err != nil {
					f.goOffline(err)
				} else {
					f.followFrom.Store(nrev)
				}
				return
			}
			for _, ev := range resp.Events {
				h := fnv.New32a()
				h.Write(ev.Kv.Key)
				queues[h.Sum32()%appliers] <- ev
			}
			f.followFrom.Store(resp.Header.Revision)
		}
	}
}

// applyEvent applies one watched change; a delete drops the local copy.
func (f *Fleet) applyEvent(ev *clientv3.Event) {
	user, err := f.kv.userOf(ev.Kv.Key)
	if err != nil {
		return
	}
	if ev.Type == clientv3.EventTypeDelete {
		unlock := f.lock(user)
		defer unlock()
		if rec, ok, _, err := f.local.Get(user); err == nil && ok && (rec.Copy == nil || rec.Copy.Offline == nil) {
			if err := f.o.Local.Delete(user); err != nil {
				f.logf("cluster: dropping the local copy of %q: %v", user, err)
			}
		}
		return
	}
	if err := f.apply(user, ev.Kv.Value, ev.Kv.ModRevision); err != nil {
		f.logf("cluster: the change of %q at revision %d is not in the local copy: %v", user, ev.Kv.ModRevision, err)
	}
}
