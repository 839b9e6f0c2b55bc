package server

import (
	"sync"
	"time"
)

// Fair shares of the connection cap (ARCHITECTURE.md, "The daemon's rules").
//
// Every connection is counted against its peer's SO_PEERCRED uid from
// accept until it is closed, in service or waiting. Logins of every user
// come from root (sshd, login, su and sudo run PAM as root), so root is
// the caller that must never be starved:
//
//   - root may use every connection of the cap, including a reserve of
//     RootReserve that no other uid can take;
//   - all other uids together hold at most the rest, and each one at most
//     DefaultUIDShare (a screen locker and a totpctl or two need fewer);
//   - uids with no account (the subordinate uids of /etc/subuid that a
//     user may map with newuidmap: thousands of uids for one person)
//     hold one share together, not one each;
//   - a non-root uid over its share, or over the others' pool, is answered
//     "busy" at once: it does not wait, so flooding gains it nothing;
//   - root over the whole cap waits up to SlotWait for a connection to
//     finish, since a burst of logins should queue rather than fail.
//
// So one local user holding or re-opening thousands of connections holds
// DefaultUIDShare of them and never delays another user's login; many
// colluding uids can fill the others' pool but never root's reserve.
const (
	// DefaultUIDShare is how many connections one non-root uid may hold.
	DefaultUIDShare = 8
	// RootReserve is the part of the cap only root may use.
	RootReserve = DefaultMaxConns / 2
	// maxLingering bounds the goroutines that linger to deliver "busy";
	// past it a refused connection is closed at once.
	maxLingering = 64
	// noAccount is the key under which all uids with no account are
	// counted (no real uid is 2^32-1: it is (uid_t)-1, "no uid").
	noAccount = ^uint32(0)
)

// admission counts the connections each uid holds and decides whether a
// new one may be served.
type admission struct {
	max, share, others int // the cap, one non-root uid's share, the non-root pool

	mu       sync.Mutex
	byUID    map[uint32]int
	nonRoot  int           // connections of all non-root uids
	total    int           // connections of everyone
	freed    chan struct{} // closed (and replaced) when a connection ends
	lingerer int           // refusals still delivering "busy"
	waiters  int           // root connections waiting for a slot
}

// newAdmission returns an admission for a cap of max connections.
func newAdmission(max int) *admission {
	reserve := min(RootReserve, max/2)
	return &admission{
		max:    max,
		share:  min(DefaultUIDShare, max-reserve),
		others: max - reserve,
		byUID:  map[uint32]int{},
		freed:  make(chan struct{}),
	}
}

// tryAdmit counts a connection of uid and reports true, or reports false
// when uid may not hold another one now.
func (a *admission) tryAdmit(uid uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.total >= a.max {
		return false
	}
	if uid != 0 {
		if a.byUID[uid] >= a.share || a.nonRoot >= a.others {
			return false
		}
		a.nonRoot++
	}
	a.byUID[uid]++
	a.total++
	return true
}

// admit is tryAdmit that, for root only, waits up to wait (or until done
// is closed) for a connection to end.
func (a *admission) admit(uid uint32, wait time.Duration, done <-chan struct{}) bool {
	if a.tryAdmit(uid) {
		return true
	}
	if uid != 0 {
		return false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		a.mu.Lock()
		freed := a.freed
		a.mu.Unlock()
		if a.tryAdmit(uid) {
			return true
		}
		select {
		case <-freed:
		case <-timer.C:
			return false
		case <-done:
			return false
		}
	}
}

// release uncounts a connection of uid.
func (a *admission) release(uid uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byUID[uid]--; a.byUID[uid] <= 0 {
		delete(a.byUID, uid)
	}
	if uid != 0 {
		a.nonRoot--
	}
	a.total--
	close(a.freed)
	a.freed = make(chan struct{})
}

// move counts a connection of from as one of to instead, and reports
// whether to's share had room (else nothing changes). Both must be
// non-root.
func (a *admission) move(from, to uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byUID[to] >= a.share {
		return false
	}
	if a.byUID[from]--; a.byUID[from] <= 0 {
		delete(a.byUID, from)
	}
	a.byUID[to]++
	return true
}

// wait reports whether one more root connection may wait for a slot (as
// many as the cap); the caller calls waited when it stops waiting.
func (a *admission) wait() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiters >= a.max {
		return false
	}
	a.waiters++
	return true
}

func (a *admission) waited() {
	a.mu.Lock()
	a.waiters--
	a.mu.Unlock()
}

// linger reports whether a refusal may take a goroutine to deliver
// "busy"; the caller calls lingered when it is done.
func (a *admission) linger() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lingerer >= maxLingering {
		return false
	}
	a.lingerer++
	return true
}

func (a *admission) lingered() {
	a.mu.Lock()
	a.lingerer--
	a.mu.Unlock()
}

// holding reports how many connections uid holds, for tests.
func (a *admission) holding(uid uint32) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byUID[uid]
}
