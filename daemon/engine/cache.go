package engine

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CachedAccounts remembers answers of the Accounts it wraps for TTL: the
// accounts that FilesAccounts cannot answer from its index (LDAP through
// sssd, say) would otherwise cost an NSS lookup, or several, on every
// request. Names and uids are kept only when found, so a new account is
// seen at once; group memberships are kept either way. A change of any
// Watch file empties the cache, so an account deleted and re-created
// under another uid, or a usermod, is seen at once too; accounts and
// groups from other sources are at most TTL late (sssd's own cache
// usually keeps them far longer).
type CachedAccounts struct {
	Accounts
	TTL   time.Duration
	Max   int      // entries; the cache is emptied when it would grow beyond
	Watch []string // files whose change (inode, size, times) empties the cache

	mu      sync.Mutex
	stamp   string // the Watch files as last seen
	entries map[cacheKey]cachedAnswer
	now     func() time.Time
}

// racyWindow is how long after a change a file's times are not trusted
// to show the next change (see fingerprint).
const racyWindow = 2 * time.Second

// fileClock is the clock fingerprint compares file times with; tests that
// write a file and look up at once move it past racyWindow.
var fileClock = time.Now

// cacheKey is one question: a name, a uid, or a name's membership of group.
type cacheKey struct {
	kind  byte // 'n' name, 'u' uid, 'g' membership
	name  string
	uid   uint32
	group string
}

type cachedAnswer struct {
	acct    Account
	in      bool
	expires time.Time
}

// NewCachedAccounts returns a cache over a with the given TTL and size.
func NewCachedAccounts(a Accounts, ttl time.Duration, max int) *CachedAccounts {
	return &CachedAccounts{Accounts: a, TTL: ttl, Max: max, entries: map[cacheKey]cachedAnswer{}, now: time.Now}
}

// User implements Accounts.
func (c *CachedAccounts) User(name string) (Account, error) {
	ans, err := c.answer(cacheKey{kind: 'n', name: name}, func() (cachedAnswer, error) {
		a, err := c.Accounts.User(name)
		return cachedAnswer{acct: a}, err
	})
	return ans.acct, err
}

// UID implements Accounts.
func (c *CachedAccounts) UID(uid uint32) (Account, error) {
	ans, err := c.answer(cacheKey{kind: 'u', uid: uid}, func() (cachedAnswer, error) {
		a, err := c.Accounts.UID(uid)
		return cachedAnswer{acct: a}, err
	})
	return ans.acct, err
}

// InGroup implements Accounts.
func (c *CachedAccounts) InGroup(a Account, group string) (bool, error) {
	ans, err := c.answer(cacheKey{kind: 'g', name: a.Name, uid: a.UID, group: group}, func() (cachedAnswer, error) {
		in, err := c.Accounts.InGroup(a, group)
		return cachedAnswer{in: in}, err
	})
	return ans.in, err
}

// answer reports the cached answer to k, or asks and keeps the answer
// unless it is an error (ErrNoAccount included).
func (c *CachedAccounts) answer(k cacheKey, ask func() (cachedAnswer, error)) (cachedAnswer, error) {
	now := c.now()
	var buf [192]byte
	stamp := fingerprint(buf[:0], c.Watch...)
	c.mu.Lock()
	if string(stamp) != c.stamp { // compared without a copy: no allocation per lookup
		clear(c.entries)
		c.stamp = string(stamp)
	}
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	ans, err := ask()
	if err != nil {
		return ans, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(stamp) != c.stamp { // the files changed during the lookup: keep nothing
		return ans, nil
	}
	if len(c.entries) >= c.Max {
		clear(c.entries)
	}
	ans.expires = now.Add(c.TTL)
	c.entries[k] = ans
	return ans, nil
}

// fingerprint appends to b the identity of the files at paths: device,
// inode, size, modification and change time of each. A missing file has
// a fixed mark; a file that cannot be examined otherwise gets a new mark
// at every call, so that nothing is trusted to be unchanged. So does a
// file changed less than racyWindow ago: file times move in ticks of the
// kernel's coarse clock, and a same-size rewrite in place within one tick
// (vipw's in-place save on older kernels, a script) leaves the times as
// they were; only once the file has rested is its stamp kept (the rule
// git uses for its index).
func fingerprint(b []byte, paths ...string) []byte {
	now := fileClock()
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				b = append(b, "absent;"...)
				continue
			}
			return strconv.AppendInt(append(b, "unknown "...), time.Now().UnixNano(), 16)
		}
		if changed := time.Unix(max(st.Mtim.Sec, st.Ctim.Sec), 0); now.Sub(changed) < racyWindow {
			return strconv.AppendInt(append(b, "recent "...), now.UnixNano(), 16)
		}
		for _, v := range []int64{int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec} {
			b = strconv.AppendInt(b, v, 16)
			b = append(b, ':')
		}
		b = append(b, ';')
	}
	return b
}
