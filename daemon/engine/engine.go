// Package engine is totpd's decision maker: given a user and a request it
// applies the policy, the lockout rule and the code check, records the
// outcome durably through the store, audits it, and reports the answer.
// The server decides who may ask (SO_PEERCRED); the engine decides what
// the answer is. Nothing here logs or returns a code the caller sent.
package engine

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// Store is the part of *store.Store the engine uses.
type Store interface {
	Get(user string) (store.Record, bool, error)
	Put(r store.Record) error
	Users() ([]string, error)
}

// Info describes the login or command a request comes from, for the audit log.
type Info struct {
	Op      wire.Op
	Caller  string
	Service string
	RHost   string
	TTY     string
	// ClaimedBy is "uid N" when Service, RHost and TTY come from a caller
	// other than root, which may say what it likes (audit.Event.ClaimedBy).
	ClaimedBy string
}

// Engine answers requests. It is safe for concurrent use; requests about
// one user are serialised so that a code can be used exactly once.
type Engine struct {
	cfg      atomic.Pointer[config.Config]
	store    Store
	accounts Accounts
	audit    audit.Logger
	now      func() time.Time
	locks    sync.Map // user name → *sync.Mutex
}

// Options are the dependencies of an Engine; zero fields get the real thing.
type Options struct {
	Accounts Accounts
	Audit    audit.Logger
	Now      func() time.Time
}

// New reports an Engine deciding by cfg over st.
func New(cfg config.Config, st Store, o Options) *Engine {
	e := &Engine{store: st, accounts: o.Accounts, audit: o.Audit, now: o.Now}
	if e.accounts == nil {
		c := NewCachedAccounts(SystemAccounts{}, time.Minute, 1<<14)
		c.Watch = []string{"/etc/passwd"}
		e.accounts = c
	}
	if e.audit == nil {
		e.audit = audit.New()
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.SetConfig(cfg)
	return e
}

// SetConfig replaces the configuration; requests in flight finish with the old one.
func (e *Engine) SetConfig(cfg config.Config) { e.cfg.Store(&cfg) }

// Config reports the configuration in force.
func (e *Engine) Config() config.Config { return *e.cfg.Load() }

// Accounts reports the account lookup the engine uses, for the server's peer checks.
func (e *Engine) Accounts() Accounts { return e.accounts }

// lock serialises requests about one user and reports the unlock function.
func (e *Engine) lock(user string) func() {
	m, _ := e.locks.LoadOrStore(user, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// session is one request about one user, under that user's lock.
type session struct {
	e    *Engine
	cfg  config.Config
	now  time.Time
	acct Account
	rec  store.Record
	info Info
}

// refusal is why a request cannot go ahead: Code for programs, Msg for
// people, Reason for the audit log.
type refusal struct{ code, msg, reason string }

// open validates name, looks up the account, takes the user's lock and
// loads the record. A record made for another uid than the account's is a
// state error, unless reset says to start the account afresh (the admin
// disable and enroll paths). On refusal the lock is not held.
func (e *Engine) open(name string, info Info) (*session, func(), *refusal) {
	return e.openFor(name, info, false)
}

// openFor is open; reset replaces a record of another uid by a fresh one.
func (e *Engine) openFor(name string, info Info, reset bool) (*session, func(), *refusal) {
	if err := CheckName(name); err != nil {
		return nil, nil, &refusal{wire.ErrCodeBadRequest, err.Error(), "bad name"}
	}
	acct, err := e.accounts.User(name)
	if errors.Is(err, ErrNoAccount) {
		return nil, nil, &refusal{wire.ErrCodeNoUser, fmt.Sprintf("there is no account %q on this host", name), "no such account"}
	}
	if err != nil {
		return nil, nil, &refusal{wire.ErrCodeInternal, "cannot look up the account: " + err.Error(), "account lookup failed"}
	}
	unlock := e.lock(acct.Name)
	rec, _, err := e.store.Get(acct.Name)
	if err != nil {
		unlock()
		fmt.Fprintf(os.Stderr, "totpd: state of user %q cannot be read, denying: %v\n", acct.Name, err)
		return nil, nil, &refusal{wire.ErrCodeState,
			"totpd cannot read its stored state for this user, so it refuses. An administrator must check the totpd log and the state directory.",
			"state unreadable"}
	}
	if rec.User == "" {
		rec = store.Record{User: acct.Name, LastStep: -1}
	}
	switch {
	case rec.UID == nil:
		rec.UID = &acct.UID // a new record, or one from before uids were kept
	case *rec.UID != acct.UID && !reset:
		unlock()
		msg := fmt.Sprintf("the stored state of %q belongs to uid %d, but the account %q is now uid %d (deleted and re-created?), "+
			"so totpd refuses rather than hand the old account's secret, lockout or exemption to the new one. "+
			"An administrator must run `totpctl user disable %s` (or `totpctl user enroll %s`) to start afresh.",
			acct.Name, *rec.UID, acct.Name, acct.UID, acct.Name, acct.Name)
		fmt.Fprintf(os.Stderr, "totpd: %s\n", msg)
		return nil, nil, &refusal{wire.ErrCodeState, msg, fmt.Sprintf("state of uid %d, account is uid %d", *rec.UID, acct.UID)}
	case *rec.UID != acct.UID:
		// The admin's way out: the old account's state goes, whole.
		fmt.Fprintf(os.Stderr, "totpd: user %q: dropping the state of the old account uid %d for the account uid %d\n", acct.Name, *rec.UID, acct.UID)
		rec = store.Record{User: acct.Name, LastStep: -1, UID: &acct.UID}
	}
	return &session{e: e, cfg: e.Config(), now: e.now(), acct: acct, rec: rec, info: info}, unlock, nil
}

// begin is open with the refusal audited and shaped as an answer.
func (e *Engine) begin(name string, info Info) (*session, func(), *wire.Response) {
	return e.beginFor(name, info, false)
}

// beginFor is begin; reset as openFor's.
func (e *Engine) beginFor(name string, info Info, reset bool) (*session, func(), *wire.Response) {
	s, unlock, r := e.openFor(name, info, reset)
	if r != nil {
		return nil, nil, e.refuse(info, name, r.code, r.msg, r.reason)
	}
	return s, unlock, nil
}

// save makes the session's record durable; the answer waits for it.
func (s *session) save() error {
	if err := s.e.store.Put(s.rec); err != nil {
		fmt.Fprintf(os.Stderr, "totpd: cannot record the state of user %q: %v\n", s.acct.Name, err)
		return err
	}
	return nil
}

// saveFailed is the answer when save fails: deny, since nothing was recorded.
func (s *session) saveFailed() *wire.Response {
	return s.refuse(wire.ErrCodeInternal, "totpd could not record this attempt on disk (disk full or read-only?), so it refuses. An administrator must check the totpd log.", "state write failed")
}

// refuse audits a refusal and reports it.
func (s *session) refuse(code, msg, reason string) *wire.Response {
	return s.e.refuse(s.info, s.acct.Name, code, msg, reason)
}

func (e *Engine) refuse(info Info, user, code, msg, reason string) *wire.Response {
	result := "denied"
	if code == wire.ErrCodeInternal || code == wire.ErrCodeState {
		result = "error"
	}
	e.log(info, user, result, reason)
	return &wire.Response{Version: wire.Version, Error: &wire.Error{Code: code, Message: msg}}
}

// ok audits a success and reports resp (which may be nil).
func (s *session) ok(result, reason string, resp *wire.Response) *wire.Response {
	s.e.log(s.info, s.acct.Name, result, reason)
	if resp == nil {
		resp = &wire.Response{}
	}
	resp.Version = wire.Version
	return resp
}

func (e *Engine) log(info Info, user, result, reason string) {
	e.audit.Log(audit.Event{
		Op: string(info.Op), User: user, Caller: info.Caller,
		Service: info.Service, RHost: info.RHost, TTY: info.TTY, ClaimedBy: info.ClaimedBy,
		Result: result, Reason: reason,
	})
}
