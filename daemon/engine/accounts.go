package engine

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
)

// Account is a login account as NSS reports it.
type Account struct {
	Name string
	UID  uint32
}

// ErrNoAccount reports a name or uid with no account on this host.
var ErrNoAccount = errors.New("no such account")

// Accounts looks up login accounts and their groups. The daemon uses NSS
// (os/user through libc); tests may pass their own.
type Accounts interface {
	// User reports the account called name, or ErrNoAccount.
	User(name string) (Account, error)
	// UID reports the account with uid, or ErrNoAccount.
	UID(uid uint32) (Account, error)
	// InGroup reports whether the account is a member of group
	// (primary or supplementary). A group that does not exist has no members.
	InGroup(a Account, group string) (bool, error)
}

// SystemAccounts is Accounts backed by the host's NSS.
type SystemAccounts struct{}

// User implements Accounts.
func (SystemAccounts) User(name string) (Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return Account{}, ErrNoAccount
		}
		return Account{}, fmt.Errorf("looking up user %q: %w", name, err)
	}
	return toAccount(u)
}

// UID implements Accounts.
func (SystemAccounts) UID(uid uint32) (Account, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		var unknown user.UnknownUserIdError
		if errors.As(err, &unknown) {
			return Account{}, ErrNoAccount
		}
		return Account{}, fmt.Errorf("looking up uid %d: %w", uid, err)
	}
	return toAccount(u)
}

// InGroup implements Accounts.
func (SystemAccounts) InGroup(a Account, group string) (bool, error) {
	g, err := user.LookupGroup(group)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return false, nil
		}
		return false, fmt.Errorf("looking up group %q: %w", group, err)
	}
	u, err := user.Lookup(a.Name)
	if err != nil {
		return false, fmt.Errorf("looking up user %q: %w", a.Name, err)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return false, fmt.Errorf("listing groups of %q: %w", a.Name, err)
	}
	return slices.Contains(ids, g.Gid), nil
}

func toAccount(u *user.User) (Account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return Account{}, fmt.Errorf("user %q has a non-numeric uid %q", u.Username, u.Uid)
	}
	return Account{Name: u.Username, UID: uint32(uid)}, nil
}
