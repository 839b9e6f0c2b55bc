package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

type accounts map[string]uint32

func (a accounts) User(n string) (engine.Account, error) {
	if uid, ok := a[n]; ok {
		return engine.Account{Name: n, UID: uid}, nil
	}
	return engine.Account{}, engine.ErrNoAccount
}

func (a accounts) UID(uid uint32) (engine.Account, error) {
	for n, u := range a {
		if u == uid {
			return engine.Account{Name: n, UID: u}, nil
		}
	}
	return engine.Account{}, engine.ErrNoAccount
}

// Only "adm" is in the admin group.
func (a accounts) InGroup(acct engine.Account, g string) (bool, error) {
	return g == "totpd-admin" && acct.Name == "adm", nil
}

type nostore struct{}

func (nostore) Get(string) (store.Record, bool, error) { return store.Record{}, false, nil }
func (nostore) Put(store.Record) error                 { return nil }
func (nostore) Users() ([]string, error)               { return nil, nil }

// TestAuthorize is the peer-rule table of ARCHITECTURE.md.
func TestAuthorize(t *testing.T) {
	e := engine.New(config.Default(), engine.Local(nostore{}), engine.Options{
		Accounts: accounts{"root": 0, "alice": 1001, "bob": 1002, "adm": 1003},
		Audit:    &audit.Recorder{},
		Now:      time.Now,
	})
	cases := []struct {
		uid      uint32
		op       wire.Op
		user     string
		wantUser string // "" means refused
	}{
		{0, wire.OpLoginVerify, "alice", "alice"},
		{1001, wire.OpLoginVerify, "alice", "alice"},
		{1001, wire.OpLoginQuery, "bob", ""},
		{1003, wire.OpLoginVerify, "alice", ""}, // admins do not authenticate others
		{1001, wire.OpStatus, "", "alice"},
		{1001, wire.OpStatus, "bob", ""},
		{0, wire.OpEnrollBegin, "", "root"},
		{1001, wire.OpUsers, "", ""},
		{1001, wire.OpUserUnlock, "alice", ""},
		{1003, wire.OpUserUnlock, "alice", "alice"},
		{0, wire.OpUserDisable, "bob", "bob"},
		{4242, wire.OpStatus, "", ""}, // a uid with no account
		{0, "admin.nonsense", "bob", ""},
	}
	for _, tc := range cases {
		caller, _, callerErr := lookupCaller(e, tc.uid)
		got, werr := authorize(e, Peer{UID: tc.uid}, caller, callerErr, &wire.Request{Op: tc.op, User: tc.user})
		if tc.wantUser == "" {
			require.NotNil(t, werr, "uid %d %s %q", tc.uid, tc.op, tc.user)
			continue
		}
		require.Nil(t, werr, "uid %d %s %q", tc.uid, tc.op, tc.user)
		require.Equal(t, tc.wantUser, got)
	}
}

// sharedName has two passwd entries named "adm": uid 1003 (the admin,
// first in the file, so getpwnam finds it) and uid 2003.
type sharedName struct{ accounts }

func (s sharedName) UID(uid uint32) (engine.Account, error) {
	if uid == 2003 {
		return engine.Account{Name: "adm", UID: 2003}, nil
	}
	return s.accounts.UID(uid)
}

// TestAuthorizeSharedName: the second account of a shared name is not
// the first one: not for its logins, its self-service, nor its admin group.
func TestAuthorizeSharedName(t *testing.T) {
	e := engine.New(config.Default(), engine.Local(nostore{}), engine.Options{
		Accounts: sharedName{accounts{"root": 0, "alice": 1001, "adm": 1003}},
		Audit:    &audit.Recorder{},
		Now:      time.Now,
	})
	for _, tc := range []struct {
		uid  uint32
		op   wire.Op
		user string
		ok   bool
	}{
		{1003, wire.OpUsers, "", true},
		{1003, wire.OpStatus, "", true},
		{2003, wire.OpUsers, "", false},
		{2003, wire.OpUserUnlock, "alice", false},
		{2003, wire.OpStatus, "", false},
		{2003, wire.OpLoginVerify, "adm", false},
		{0, wire.OpLoginVerify, "adm", true},
	} {
		caller, _, callerErr := lookupCaller(e, tc.uid)
		_, werr := authorize(e, Peer{UID: tc.uid}, caller, callerErr, &wire.Request{Op: tc.op, User: tc.user})
		if tc.ok {
			require.Nil(t, werr, "uid %d %s", tc.uid, tc.op)
			continue
		}
		require.NotNil(t, werr, "uid %d %s %q must be refused", tc.uid, tc.op, tc.user)
		require.Contains(t, werr.Message, "two accounts share a name", "uid %d %s", tc.uid, tc.op)
	}
}
