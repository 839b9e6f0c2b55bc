package engine

import (
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CachedAccounts remembers successful name lookups for a short time.
// NSS's files backend reads /etc/passwd line by line, so on a host with
// thousands of local accounts a lookup costs most of a request's CPU
// (0.8 ms for the last of 10,000 here). Only positive answers are kept:
// a new account is seen at once. A change of any Watch file (the files
// NSS reads) empties the cache, so an account deleted and re-created
// under another uid is seen at once too; accounts from other sources
// (LDAP through sssd) are at most TTL late. engine.New watches
// /etc/passwd only. Group membership is not
// cached, so a policy change by usermod applies at once.
type CachedAccounts struct {
	Accounts
	TTL   time.Duration
	Max   int      // entries; the cache is emptied when it would grow beyond
	Watch []string // files whose change (inode, size, mtime) empties the cache

	stamp string // the Watch files as last seen

	mu      sync.Mutex
	entries map[string]cachedAccount
	now     func() time.Time
}

type cachedAccount struct {
	acct    Account
	expires time.Time
}

// NewCachedAccounts returns a cache over a with the given TTL and size.
func NewCachedAccounts(a Accounts, ttl time.Duration, max int) *CachedAccounts {
	return &CachedAccounts{Accounts: a, TTL: ttl, Max: max, entries: map[string]cachedAccount{}, now: time.Now}
}

// User implements Accounts.
func (c *CachedAccounts) User(name string) (Account, error) {
	now := c.now()
	var buf [128]byte
	stamp := c.fingerprint(buf[:0])
	c.mu.Lock()
	if string(stamp) != c.stamp { // compared without a copy: no allocation per lookup
		clear(c.entries)
		c.stamp = string(stamp)
	}
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
	if string(stamp) != c.stamp { // the files changed during the lookup: keep nothing
		c.mu.Unlock()
		return a, nil
	}
	if len(c.entries) >= c.Max {
		clear(c.entries)
	}
	c.entries[name] = cachedAccount{acct: a, expires: now.Add(c.TTL)}
	c.mu.Unlock()
	return a, nil
}

// fingerprint appends to b the identity of the Watch files: device, inode,
// size and modification time of each ("" when nothing is watched). A
// file that cannot be read counts as changed at every call, so nothing
// is cached for it.
func (c *CachedAccounts) fingerprint(b []byte) []byte {
	for _, p := range c.Watch {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return append(b, "unreadable "+p+" "+c.now().String()...)
		}
		for _, v := range []int64{int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Sec, st.Mtim.Nsec} {
			b = strconv.AppendInt(b, v, 16)
			b = append(b, ':')
		}
	}
	return b
}
