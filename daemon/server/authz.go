package server

import (
	"errors"
	"fmt"
	"net"

	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// The peer rules (ARCHITECTURE.md, "The daemon's rules"), in one place:
//   - login ops about user U: uid 0, or U itself (screen lockers run as the user);
//   - self ops: the caller, about itself (the request's user is ignored unless it names someone else, which is refused);
//   - admin ops: uid 0, or a member of admin_group;
//   - root ops: uid 0 only (restore replaces every user's secrets at once).
// Which op is of which class is the ops table's (ops.go).

// authorize reports the user the request is about, or a refusal.
// caller is the peer's account as looked up by uid (callerErr when it has none).
func authorize(e *engine.Engine, p Peer, caller engine.Account, callerErr error, req *wire.Request) (string, *wire.Error) {
	spec, ok := ops[req.Op]
	if !ok {
		return "", &wire.Error{Code: wire.ErrCodeBadRequest, Message: fmt.Sprintf("unknown operation %q", req.Op)}
	}
	accts := e.Accounts()
	switch spec.class {
	case classLogin:
		if p.UID == 0 {
			return req.User, nil
		}
		if callerErr == nil && req.User == caller.Name {
			return req.User, nil
		}
		if callerErr != nil && !errors.Is(callerErr, engine.ErrNoAccount) {
			return "", denied(callerErr.Error())
		}
		return "", denied("only root or the user itself may authenticate a user")
	case classSelf:
		if callerErr != nil {
			return "", denied(fmt.Sprintf("uid %d has no account name: %v", p.UID, callerErr))
		}
		if req.User != "" && req.User != caller.Name {
			return "", denied("you can only do this for yourself; administrators use `totpctl user …`")
		}
		return caller.Name, nil
	case classRoot:
		if p.UID == 0 {
			return req.User, nil
		}
		return "", denied("only root may do this: a restore replaces every user's secrets and lockouts at once (run it as root, e.g. with sudo)")
	default:
		if p.UID == 0 {
			return req.User, nil
		}
		group := e.Config().AdminGroup
		if callerErr != nil && !errors.Is(callerErr, engine.ErrNoAccount) {
			return "", denied(callerErr.Error())
		}
		if callerErr == nil && group != "" {
			in, err := accts.InGroup(caller, group)
			if err != nil {
				return "", &wire.Error{Code: wire.ErrCodeInternal, Message: "cannot check the admin group: " + err.Error()}
			}
			if in {
				return req.User, nil
			}
		}
		return "", denied(fmt.Sprintf("this is an administrator command: run it as root or as a member of the group %q", group))
	}
}

func denied(msg string) *wire.Error {
	return &wire.Error{Code: wire.ErrCodePermission, Message: msg}
}

// caller is a peer's account, looked up once per connection.
type caller struct {
	acct engine.Account
	name string // for the audit log: the account's name, or "uid N"
	err  error  // why the uid has no usable account (engine.ErrNoAccount: none)
	// conn is the connection, for the ops that take a file descriptor
	// passed on it (op_backup.go); nil where a test calls answer directly.
	conn *net.UnixConn
}

// uidName is how the audit names a uid it has no account name for.
func uidName(uid uint32) string { return fmt.Sprintf("uid %d", uid) }

// identify reports the caller of uid (lookupCaller as a value).
func identify(e *engine.Engine, uid uint32) caller {
	a, name, err := lookupCaller(e, uid)
	return caller{acct: a, name: name, err: err}
}

// lookupCaller reports the peer's account and a readable name for the
// audit log ("uid N" when the uid has no account). It is looked up once
// per connection (a connection carries one request), by uid, and the name it reports must lead back to that uid:
// a second passwd entry with the same name and another uid (a local
// account beside an LDAP one, say) would otherwise act as the first
// account, its admin group included, since records, logins and group
// memberships are all found by name.
func lookupCaller(e *engine.Engine, uid uint32) (engine.Account, string, error) {
	a, err := e.Accounts().UID(uid)
	if err != nil {
		return a, uidName(uid), err
	}
	if uid == 0 {
		return a, a.Name, nil
	}
	byName, err := e.Accounts().User(a.Name)
	switch {
	case err != nil:
		return a, uidName(uid), fmt.Errorf("uid %d is named %q, but that name cannot be looked up: %w", uid, a.Name, err)
	case byName.UID != uid:
		return a, uidName(uid), fmt.Errorf("uid %d is named %q, but the account %q is uid %d: two accounts share a name, "+
			"so totpd cannot tell which one this is; an administrator must give them distinct names (see getent passwd %s)",
			uid, a.Name, a.Name, byName.UID, a.Name)
	}
	return a, a.Name, nil
}
