// Package engine is totpd's decision maker: given a user and a request it
// applies the policy, the lockout rule and the code check, records the
// outcome durably through the store, audits it, and reports the answer.
// The server decides who may ask (SO_PEERCRED); the engine decides what
// the answer is. Nothing here logs or returns a code the caller sent.
package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totpd/totpd/daemon/logf"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/names"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// Info describes the login or command a request comes from, for the audit log.
type Info struct {
	Op      wire.Op
	Caller  string
	Service string
	RHost   string
	TTY     string
	// PubKey identifies the public key of the login (wire.Request.PubKey),
	// for a remembered login's key; not audited.
	PubKey string
	// Flow is the module's conversation (wire.Request.Flow): with
	// wire.FlowForwardPass no remembered login applies.
	Flow string
	// ClaimedBy is "uid N" when Service, RHost, TTY and PubKey come from
	// a caller other than root, which may say what it likes
	// (audit.Event.ClaimedBy); a remembered login never takes them.
	ClaimedBy string
}

// Engine answers requests. It is safe for concurrent use; requests about
// one user are serialised, and each change is saved only over the state
// it was decided on (Engine.update), so that a code can be used exactly
// once.
type Engine struct {
	cfg      atomic.Pointer[config.Config]
	store    Backend
	accounts Accounts
	audit    audit.Logger
	now      func() time.Time
	logf     func(format string, args ...any)
	locks    sync.Map // user name → *sync.Mutex
	metrics  func() ([]byte, error)
}

// Options are the dependencies of an Engine; zero fields get the real thing.
type Options struct {
	// Accounts looks up users; nil: the host's, through FilesAccounts
	// over /etc/passwd and /etc/group and a one-minute CachedAccounts
	// over NSS for the rest.
	Accounts Accounts
	Audit    audit.Logger
	Now      func() time.Time
	// Logf receives notices for the administrator (a record that cannot
	// be read or written), one line each, without the "totpd: " prefix
	// or a newline; nil: StderrLogf. The daemon gives the engine, the
	// server and the store the same one.
	Logf func(format string, args ...any)
	// Metrics reports the text of `totpctl metrics` (package metrics);
	// nil: that op is refused.
	Metrics func() ([]byte, error)
}

// StderrLogf is the Logf of an Engine or a Server given none.
var StderrLogf = logf.Stderr

// New returns an Engine deciding by cfg over the records in st
// (Local(*store.Store) for the local journal).
func New(cfg config.Config, st Backend, o Options) *Engine {
	e := &Engine{store: st, accounts: o.Accounts, audit: o.Audit, now: o.Now, logf: o.Logf, metrics: o.Metrics}
	if e.accounts == nil {
		f := NewFilesAccounts(nil)
		c := NewCachedAccounts(SystemAccounts{}, time.Minute, 1<<14)
		c.Watch = []string{f.NSSwitch, f.Passwd, f.Group}
		f.Fallback = c
		e.accounts = f
	}
	if e.audit == nil {
		e.audit = audit.New()
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.logf == nil {
		e.logf = StderrLogf
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

// Logf writes a notice for the administrator with the engine's Options.Logf.
func (e *Engine) Logf(format string, args ...any) { e.logf(format, args...) }

// lock serialises requests about one user: it takes the user's mutex and
// returns the function that releases it.
func (e *Engine) lock(user string) (release func()) {
	m, _ := e.locks.LoadOrStore(user, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// userTx is one request's transaction on one user's record: Engine.open
// takes the user's lock and reads the record with its version, the
// request reads and changes it (the lockout, the policy, the code
// check), save makes it durable before the answer, conditioned on that
// version, and the lock is released after. "Tx" says what it is for: no
// other request about that user sees the record between the read and
// the save (the lock, in this daemon) and no save lands on a record
// changed since the read (the version, across hosts), so a code is
// accepted once. (It was called session, which reads as a login
// session; one login is several requests, each its own userTx.)
type userTx struct {
	e    *Engine
	cfg  config.Config
	now  time.Time
	acct Account
	rec  store.Record
	ver  Version // of rec as read, then as last saved
	info Info
	// conflict is set when a save found the record changed since ver:
	// the decision is void, Engine.update decides again, and nothing
	// more is audited for this try (its answer is thrown away).
	conflict bool
	// saveErr is why the last save failed, for saveFailed's answer.
	saveErr error
}

// refusal is why a request cannot go ahead: Code for programs, Msg for
// people, Reason for the audit log.
type refusal struct{ code, msg, reason string }

// open validates name, looks up the account, takes the user's lock and
// loads the record; a record made for another uid than the account's is a
// state error. It returns the transaction and the function that releases
// the lock; on refusal the lock is not held.
func (e *Engine) open(name string, info Info) (*userTx, func(), *refusal) {
	return e.openFor(name, info, false)
}

// openFor is open where reset (the admin disable and enroll paths) starts
// the account afresh instead: a record of another uid is replaced by a
// fresh one.
func (e *Engine) openFor(name string, info Info, reset bool) (*userTx, func(), *refusal) {
	if err := names.Check(name); err != nil {
		return nil, nil, &refusal{wire.ErrCodeBadRequest, err.Error(), "bad name"}
	}
	acct, err := e.accounts.User(name)
	if errors.Is(err, ErrNoAccount) {
		return nil, nil, &refusal{wire.ErrCodeNoUser, fmt.Sprintf("there is no account %q on this host", name), "no such account"}
	}
	if err != nil {
		return nil, nil, &refusal{wire.ErrCodeInternal, "cannot look up the account: " + err.Error(), "account lookup failed"}
	}
	release := e.lock(acct.Name)
	tx, r := e.load(acct, info, reset)
	if r != nil {
		release()
		return nil, nil, r
	}
	return tx, release, nil
}

// load reads acct's record into a new transaction; the caller holds the
// user's lock. It is the read that Engine.update repeats after a conflict.
func (e *Engine) load(acct Account, info Info, reset bool) (*userTx, *refusal) {
	rec, _, ver, err := e.store.Get(acct.Name)
	if errors.Is(err, ErrUnavailable) {
		return nil, &refusal{wire.ErrCodeUnavailable, err.Error(), "cluster unreachable"}
	}
	if err != nil {
		e.logf("state of user %q cannot be read, denying: %v", acct.Name, err)
		return nil, &refusal{wire.ErrCodeState,
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
		msg := fmt.Sprintf("the stored state of %q belongs to uid %d, but the account %q is now uid %d (deleted and re-created?), "+
			"so totpd refuses rather than hand the old account's secret, lockout or exemption to the new one. "+
			"An administrator must run `totpctl user disable %s` (or `totpctl user enroll %s`) to start afresh.",
			acct.Name, *rec.UID, acct.Name, acct.UID, acct.Name, acct.Name)
		e.logf("%s", msg)
		return nil, &refusal{wire.ErrCodeState, msg, fmt.Sprintf("state of uid %d, account is uid %d", *rec.UID, acct.UID)}
	case *rec.UID != acct.UID:
		// The admin's way out: the old account's state goes, whole.
		e.logf("user %q: dropping the state of the old account uid %d for the account uid %d", acct.Name, *rec.UID, acct.UID)
		rec = store.Record{User: acct.Name, LastStep: -1, UID: &acct.UID}
	}
	return &userTx{e: e, cfg: e.Config(), now: e.now(), acct: acct, rec: rec, ver: ver, info: info}, nil
}

// begin is open with the refusal audited and shaped as an answer.
func (e *Engine) begin(name string, info Info) (*userTx, func(), *wire.Response) {
	return e.beginFor(name, info, false)
}

// beginFor is begin; reset as openFor's.
func (e *Engine) beginFor(name string, info Info, reset bool) (*userTx, func(), *wire.Response) {
	tx, release, r := e.openFor(name, info, reset)
	if r != nil {
		return nil, nil, e.refuse(info, name, r.code, r.msg, r.reason)
	}
	return tx, release, nil
}

// maxTries bounds how often update decides one request: every try
// after the first follows a write by another host to the same user
// between the try's read and its save.
const maxTries = 5

// update runs a request that may change user's record: it opens the
// transaction (as beginFor), lets decide read, change and save it, and
// when the save finds the record changed since it was read (another host
// wrote it meanwhile) it reads the record again and lets decide decide
// afresh, under the same lock, at most maxTries times. So a decision is
// only ever recorded over the state it was made from: a code another
// host accepted meanwhile is refused as used, its failures are added to,
// its lock holds. decide's answer is the request's; a void try's is
// thrown away and was not audited (userTx.conflict). Read-only requests
// use begin.
func (e *Engine) update(name string, info Info, reset bool, decide func(tx *userTx) *wire.Response) *wire.Response {
	tx, release, r := e.beginFor(name, info, reset)
	if r != nil {
		return r
	}
	defer release()
	acct := tx.acct
	for try := 1; ; try++ {
		resp := decide(tx)
		if !tx.conflict {
			return resp
		}
		if try == maxTries {
			break
		}
		var rf *refusal
		if tx, rf = e.load(acct, info, reset); rf != nil {
			return e.refuse(info, acct.Name, rf.code, rf.msg, rf.reason)
		}
	}
	msg := fmt.Sprintf("totpd did not record this request: the stored state of %q changed between reading and writing it %d times in a row "+
		"(other hosts writing the same user), so it refuses; nothing was changed. Try again; if it goes on, an administrator must check the totpd log of every host.",
		acct.Name, maxTries)
	e.logf("%s", msg)
	return e.refuse(info, acct.Name, wire.ErrCodeInternal, msg, fmt.Sprintf("state changed under %d tries", maxTries))
}

// save makes the transaction's record durable if it is still at the
// version it was read at; the answer waits for it. A conflict marks the
// transaction void (userTx.conflict) and is not logged: it is a race
// that Engine.update resolves by deciding again.
func (tx *userTx) save() error {
	tx.pruneRemembered()
	v, err := tx.e.store.Put(tx.rec, tx.ver)
	if errors.Is(err, ErrConflict) {
		tx.conflict = true
		return err
	}
	if err != nil {
		tx.saveErr = err
		if !errors.Is(err, ErrUnavailable) {
			tx.e.logf("cannot record the state of user %q: %v", tx.acct.Name, err)
		}
		return err
	}
	tx.ver = v
	return nil
}

// saveFailed is the answer when save fails: deny, since nothing was
// recorded. After a conflict it is the void try's answer, which
// Engine.update discards.
func (tx *userTx) saveFailed() *wire.Response {
	if errors.Is(tx.saveErr, ErrUnavailable) {
		return tx.refuse(wire.ErrCodeUnavailable, tx.saveErr.Error(), "cluster unreachable")
	}
	return tx.refuse(wire.ErrCodeInternal, "totpd could not record this attempt on disk (disk full or read-only?), so it refuses. An administrator must check the totpd log.", "state write failed")
}

// refuse audits a refusal and reports it; after a conflict it only
// reports it (the try is void and will be decided again).
func (tx *userTx) refuse(code, msg, reason string) *wire.Response {
	if tx.conflict {
		return &wire.Response{Version: wire.Version, Error: &wire.Error{Code: code, Message: msg}}
	}
	tx.log(refusalResult(code), reason)
	return &wire.Response{Version: wire.Version, Error: &wire.Error{Code: code, Message: msg}}
}

// refusalResult is the audit result of a refusal with code: "error" when
// nothing could be decided (the state, the disk, the cluster), else
// "denied".
func refusalResult(code string) string {
	switch code {
	case wire.ErrCodeInternal, wire.ErrCodeState, wire.ErrCodeUnavailable:
		return "error"
	}
	return "denied"
}

func (e *Engine) refuse(info Info, user, code, msg, reason string) *wire.Response {
	e.log(info, user, refusalResult(code), reason)
	return &wire.Response{Version: wire.Version, Error: &wire.Error{Code: code, Message: msg}}
}

// ok audits a success and reports resp (which may be nil).
func (tx *userTx) ok(result, reason string, resp *wire.Response) *wire.Response {
	if !tx.conflict {
		tx.log(result, reason)
	}
	if resp == nil {
		resp = &wire.Response{}
	}
	resp.Version = wire.Version
	return resp
}

// log audits the transaction's decision, marked offline when it was
// made from a fleet host's local copy (Version.Offline).
func (tx *userTx) log(result, reason string) {
	ev := tx.info.Event(tx.acct.Name, result, reason)
	ev.Offline = tx.ver.Offline()
	tx.e.audit.Log(ev)
}

func (e *Engine) log(info Info, user, result, reason string) {
	e.audit.Log(info.Event(user, result, reason))
}

// Event returns the audit event of the request info describes, about
// user, with its result and reason. It is the one constructor of
// audit.Event: the engine's decisions and the server's refusals before
// them (Server.Audit) are built here from the same Info, so every line
// of a request carries the same op, caller, service, rhost, tty and claim.
func (info Info) Event(user, result, reason string) audit.Event {
	return audit.Event{
		Op: string(info.Op), User: user, Caller: info.Caller,
		Service: info.Service, RHost: info.RHost, TTY: info.TTY, ClaimedBy: info.ClaimedBy,
		Result: result, Reason: reason,
	}
}
