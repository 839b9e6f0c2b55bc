package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
)

// The rules of offline decisions and their write-back (PRODUCT.md §8),
// in one place:
//
//   - Offline, only what a login changes may change: the accepted step
//     and drift, the failure count and lock, the last success, the grace
//     start, a recovery code used. Anything else (an enrollment, an admin
//     command) needs the cluster and is refused (offlineChanges).
//   - At the write-back, over etcd's record as it is then (merge): the
//     later accepted step wins; the failures counted offline (since the
//     host's last offline success) are added to etcd's, and the lockout
//     rule is applied to the sum; a lock set offline holds, the later one
//     winning; recovery codes used offline are gone; an enrollment changed
//     meanwhile (an admin disable, a re-enrollment) wins over everything
//     decided offline.
//   - Remembered logins ([policy] remember, daemon/engine/remember.go)
//     are a login's too: one made offline is kept, and so is a drop made
//     offline (a lockout, or `totpctl user forget`, which only ever drops
//     and so may run offline). The write-back unites etcd's entries and
//     the copy's, void those made before the later drop of the two
//     (engine.UniteRemembered); a record locked after the merge keeps none.
//     So a drop in etcd meanwhile wins.

// errNeedsCluster is offlineChanges' refusal of a change that is not a
// login's.
var errNeedsCluster = errors.New("only logins are decided while the cluster does not answer; enrollments and admin changes need it: try again once `totpctl cluster status` says online")

// loginFields clears, in a copy of r, the fields a login may change, so
// that two records that differ only there encode alike.
func loginFields(r store.Record) []byte {
	r.LastStep, r.DriftSteps, r.Failures = 0, 0, 0
	r.LockedUntil, r.LockedForever = time.Time{}, false
	r.LastSuccess, r.FirstRequired = time.Time{}, time.Time{}
	r.RecoveryHashes, r.Seq, r.Copy, r.WriteBack = nil, 0, nil, ""
	r.Remembered, r.ForgetBefore = nil, time.Time{}
	b, _ := json.Marshal(&r) // a Record always encodes
	return b
}

// offlineChanges checks that next changes only what a login may change in
// prev (the local copy, found or not) and returns the copy's bookkeeping
// with next's change added: the revision stays prev's, the changes add up
// until the write-back.
func offlineChanges(prev store.Record, found bool, next store.Record) (*store.ClusterCopy, error) {
	if !found {
		prev = store.Record{User: next.User, LastStep: -1}
	}
	if prev.UID == nil {
		prev.UID = next.UID // a login fills in the uid of an old record
	}
	if !bytes.Equal(loginFields(prev), loginFields(next)) {
		return nil, errNeedsCluster
	}
	for _, h := range next.RecoveryHashes {
		if !slices.Contains(prev.RecoveryHashes, h) {
			return nil, errNeedsCluster // new codes are an enrollment's
		}
	}
	c := store.ClusterCopy{}
	if prev.Copy != nil {
		c.Rev = prev.Copy.Rev
	}
	var off store.OfflineChanges
	if prev.Copy != nil && prev.Copy.Offline != nil {
		off = *prev.Copy.Offline
		off.UsedRecovery = slices.Clone(off.UsedRecovery)
	} else {
		off.EnrolledAt = prev.EnrolledAt
		off.ID = writeBackID()
	}
	if next.LastStep > prev.LastStep || next.LastSuccess.After(prev.LastSuccess) {
		off.Accepted = true
		off.Failures = 0 // a success forgives what came before it here
	}
	if next.Failures >= prev.Failures {
		off.Failures += next.Failures - prev.Failures
	} else {
		// The count restarted (a timed lock ran out): what led to that
		// lock was served, only the failures since count.
		off.Failures = next.Failures
	}
	if (next.LockedForever && !prev.LockedForever) || (!next.LockedUntil.IsZero() && !next.LockedUntil.Equal(prev.LockedUntil)) {
		off.Locked = true
		off.Failures = 0 // carried by the lock itself, not added again
	}
	if !next.LockedForever && next.LockedUntil.IsZero() {
		off.Locked = false // a success offline lifted it
	}
	for _, h := range prev.RecoveryHashes {
		if !slices.Contains(next.RecoveryHashes, h) {
			off.UsedRecovery = append(off.UsedRecovery, h)
		}
	}
	c.Offline = &off
	return &c, nil
}

// merge returns what to write to etcd for local, a copy with offline
// decisions, over remote, etcd's record now (found or not). write false
// means etcd's record stands as it is (an enrollment changed meanwhile)
// or, if !found, that the user is gone from the cluster.
func merge(remote store.Record, found bool, local store.Record, addFailures func(*store.Record, int)) (out store.Record, write bool) {
	off := local.Copy.Offline
	if found && off.ID != "" && remote.WriteBack == off.ID {
		return remote, false // this write-back landed already (its answer was lost)
	}
	if !found {
		if local.Copy.Rev == 0 {
			out = local // never in etcd: the host's decisions are all there is
			out.Copy, out.WriteBack = nil, off.ID
			return out, true
		}
		return store.Record{}, false
	}
	if (remote.Secret == nil) != (local.Secret == nil) || !remote.EnrolledAt.Equal(off.EnrolledAt) {
		return remote, false
	}
	out = remote
	if local.LastStep > out.LastStep {
		out.LastStep, out.DriftSteps = local.LastStep, local.DriftSteps
	}
	if local.LastSuccess.After(out.LastSuccess) {
		out.LastSuccess = local.LastSuccess
	}
	if !local.FirstRequired.IsZero() && (out.FirstRequired.IsZero() || local.FirstRequired.Before(out.FirstRequired)) {
		out.FirstRequired = local.FirstRequired
	}
	if out.UID == nil {
		out.UID = local.UID
	}
	out.Remembered, out.ForgetBefore = engine.UniteRemembered(remote.Remembered, remote.ForgetBefore, local.Remembered, local.ForgetBefore)
	if addFailures != nil {
		addFailures(&out, off.Failures)
	} else {
		out.Failures += off.Failures
	}
	if off.Locked {
		out.LockedForever = out.LockedForever || local.LockedForever
		if local.LockedUntil.After(out.LockedUntil) {
			out.LockedUntil = local.LockedUntil
		}
	}
	if out.LockedForever || !out.LockedUntil.IsZero() {
		// Locked on either side, or by the sum: no remembered login
		// stands, and none from before now may come back with a later
		// write-back from another host.
		out.Remembered = nil
		if now := time.Now(); now.After(out.ForgetBefore) {
			out.ForgetBefore = now
		}
	}
	if len(off.UsedRecovery) > 0 {
		out.RecoveryHashes = slices.DeleteFunc(slices.Clone(out.RecoveryHashes), func(h string) bool {
			return slices.Contains(off.UsedRecovery, h)
		})
	}
	out.WriteBack = off.ID
	return out, true
}

// writeBackID returns a new random write-back id.
func writeBackID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
