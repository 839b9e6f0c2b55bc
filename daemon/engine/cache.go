package engine

import (
	"sync"
	"time"
)

// CachedAccounts remembers successful name lookups for a short time.
// NSS's files backend reads /etc/passwd line by line, so on a host with
// thousands of local accounts a lookup costs most of a request's CPU
// (0.8 ms for the last of 10,000 here). Only positive answers are kept:
// a new account is seen at once, a deleted one at most TTL late (and its
// login fails in pam_unix anyway). Group membership is not cached, so a
// policy change by usermod applies at once.
type CachedAccounts struct {
	Accounts
	TTL time.Duration
	Max int // entries; the cache is emptied when it would grow beyond

	mu      sync.Mutex
	entries map[string]cachedAccount
	now     func() time.Time
}

type cachedAccount struct {
	acct    Account
	expires time.Time
}

// NewCachedAccounts reports a cache over a with the given TTL and size.
func NewCachedAccounts(a Accounts, ttl time.Duration, max int) *CachedAccounts {
	return &CachedAccounts{Accounts: a, TTL: ttl, Max: max, entries: map[string]cachedAccount{}, now: time.Now}
}

// User implements Accounts.
func (c *CachedAccounts) User(name string) (Account, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.acct, nil
	}
	a, err := c.Accounts.User(name)
	if err != nil {
		return a, err
	}
	c.mu.Lock()
	if len(c.entries) >= c.Max {
		clear(c.entries)
	}
	c.entries[name] = cachedAccount{acct: a, expires: now.Add(c.TTL)}
	c.mu.Unlock()
	return a, nil
}
