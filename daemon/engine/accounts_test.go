package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/e2e/testutils"
)

// countingAccounts is fakeAccounts that counts the questions reaching it.
type countingAccounts struct {
	fakeAccounts
	calls int
}

func (c *countingAccounts) User(name string) (Account, error) {
	c.calls++
	return c.fakeAccounts.User(name)
}
func (c *countingAccounts) UID(uid uint32) (Account, error) {
	c.calls++
	return c.fakeAccounts.UID(uid)
}
func (c *countingAccounts) InGroup(a Account, g string) (bool, error) {
	c.calls++
	return c.fakeAccounts.InGroup(a, g)
}

// restedFiles makes the files the test writes count as long unchanged
// (see fingerprint's racy rule, tested by TestFingerprintRecentChange).
func restedFiles(t *testing.T) {
	fileClock = func() time.Time { return time.Now().Add(time.Hour) }
	t.Cleanup(func() { fileClock = time.Now })
}

// TestFingerprintRecentChange: a file changed within racyWindow never
// keeps its stamp, so a same-size rewrite in the same clock tick is seen.
func TestFingerprintRecentChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	require.NoError(t, os.WriteFile(p, []byte("alice:x:1000:1000::/:/bin/sh\n"), 0o644))
	a := string(fingerprint(nil, p))
	require.NotEqual(t, a, string(fingerprint(nil, p)), "a file just written is not trusted to be unchanged")
	restedFiles(t)
	require.Equal(t, string(fingerprint(nil, p)), string(fingerprint(nil, p)), "a rested file keeps its stamp")
}

func TestCachedAccounts(t *testing.T) {
	restedFiles(t)
	base := &countingAccounts{fakeAccounts: fakeAccounts{users: map[string]uint32{"alice": 1001}, groups: map[string][]string{"ops": {"alice"}}}}
	c := NewCachedAccounts(base, time.Minute, 8)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	a, err := c.User("alice")
	require.NoError(t, err)
	require.Equal(t, uint32(1001), a.UID)
	in, err := c.InGroup(a, "ops")
	require.NoError(t, err)
	require.True(t, in)
	_, err = c.UID(1001)
	require.NoError(t, err)
	delete(base.users, "alice")
	base.groups["ops"] = nil
	calls := base.calls
	_, err = c.User("alice")
	require.NoError(t, err, "cached within the TTL")
	_, err = c.UID(1001)
	require.NoError(t, err, "cached within the TTL")
	in, _ = c.InGroup(a, "ops")
	require.True(t, in, "cached within the TTL")
	require.Equal(t, calls, base.calls, "no lookup reached NSS within the TTL")
	now = now.Add(2 * time.Minute)
	_, err = c.User("alice")
	require.ErrorIs(t, err, ErrNoAccount, "expired")
	in, _ = c.InGroup(a, "ops")
	require.False(t, in, "expired")
	base.users["bob"] = 1002
	_, err = c.User("bob")
	require.NoError(t, err, "a new account is seen at once: absent names are not kept")

	// A change of a watched file (useradd, userdel) empties the cache.
	passwd := filepath.Join(t.TempDir(), "passwd")
	require.NoError(t, os.WriteFile(passwd, []byte("bob:x:1002\n"), 0o644))
	c.Watch = []string{passwd}
	_, err = c.User("bob")
	require.NoError(t, err)
	base.users["bob"] = 2002 // userdel bob; useradd -u 2002 bob
	a, err = c.User("bob")
	require.NoError(t, err)
	require.Equal(t, uint32(1002), a.UID, "cached while the file is unchanged")
	require.NoError(t, os.WriteFile(passwd+".new", []byte("bob:x:2002\n"), 0o644))
	require.NoError(t, os.Rename(passwd+".new", passwd))
	a, err = c.User("bob")
	require.NoError(t, err)
	require.Equal(t, uint32(2002), a.UID, "seen at once after the file changed")
}

// filesFixture is a FilesAccounts over files in a temp dir, with a counting fallback.
type filesFixture struct {
	f        *FilesAccounts
	fallback *countingAccounts
}

func newFilesFixture(t *testing.T, nsswitch, passwd, group string) filesFixture {
	dir := t.TempDir()
	fb := &countingAccounts{fakeAccounts: fakeAccounts{users: map[string]uint32{"ldapuser": 50000}, groups: map[string][]string{"ops": {"ldapuser"}}}}
	f := &FilesAccounts{Fallback: fb, NSSwitch: filepath.Join(dir, "nsswitch.conf"), Passwd: filepath.Join(dir, "passwd"), Group: filepath.Join(dir, "group")}
	for p, s := range map[string]string{f.NSSwitch: nsswitch, f.Passwd: passwd, f.Group: group} {
		if s != "" {
			require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		}
	}
	return filesFixture{f: f, fallback: fb}
}

// replace writes a file as useradd and vipw do: a new file renamed over the old.
func replace(t *testing.T, path, content string) {
	require.NoError(t, os.WriteFile(path+".new", []byte(content), 0o644))
	require.NoError(t, os.Rename(path+".new", path))
}

const (
	testPasswd = "root:x:0:0:root:/root:/bin/bash\n" +
		"# a comment\n\n" +
		"alice:x:1001:1001:Alice:/home/alice:/bin/sh\n" +
		"bob:x:1002:100::/home/bob:/bin/sh:extra:colons\n" +
		"alice:x:1999:1999::/:/bin/sh\n" + // a second alice: the first line wins, as in nss_files
		"alias:x:1001:1001::/:/bin/sh\n" // a second name for uid 1001: the first line wins
	testGroup = "root:x:0:\nalice:x:1001:\nusers:x:100:\nops:x:2000:bob,carol\nadmins:x:2001:alice\nops2:x:2000:alice\n"
	nssFiles  = "passwd: files systemd\ngroup:  files\nshadow: files\n"
)

func TestFilesAccounts(t *testing.T) {
	restedFiles(t)
	x := newFilesFixture(t, nssFiles, testPasswd, testGroup)
	f := x.f
	for name, uid := range map[string]uint32{"root": 0, "alice": 1001, "bob": 1002, "alias": 1001} {
		a, err := f.User(name)
		require.NoError(t, err)
		require.Equal(t, Account{Name: name, UID: uid}, a)
	}
	a, err := f.UID(1001)
	require.NoError(t, err)
	require.Equal(t, "alice", a.Name, "the first line of a uid wins")
	alice, _ := f.User("alice")
	bob, _ := f.User("bob")
	for _, c := range []struct {
		a     Account
		group string
		in    bool
	}{
		{alice, "alice", true},  // primary group
		{alice, "admins", true}, // listed
		{alice, "ops", true},    // listed in ops2, which has ops's gid: getgrouplist reports 2000
		{bob, "ops", true},      // listed
		{bob, "users", true},    // primary gid 100
		{bob, "admins", false},  // not listed
		{bob, "nosuch", false},  // no such group
		{alice, "users", false}, // neither
	} {
		in, err := f.InGroup(c.a, c.group)
		require.NoError(t, err)
		require.Equal(t, c.in, in, "%s in %s", c.a.Name, c.group)
	}
	require.Zero(t, x.fallback.calls, "everything above is in the files")

	// Not in the files: the fallback answers (LDAP through sssd, say).
	a, err = f.User("ldapuser")
	require.NoError(t, err)
	require.Equal(t, uint32(50000), a.UID)
	in, err := f.InGroup(a, "ops")
	require.NoError(t, err)
	require.True(t, in, "an account the files do not have: its groups come from NSS")
	_, err = f.User("nobody-here")
	require.ErrorIs(t, err, ErrNoAccount)
	require.Equal(t, 3, x.fallback.calls)

	// A change is seen at the next lookup: userdel alice; useradd -u 3000 alice.
	replace(t, f.Passwd, "root:x:0:0::/root:/bin/sh\nalice:x:3000:3000::/:/bin/sh\n")
	a, err = f.User("alice")
	require.NoError(t, err)
	require.Equal(t, uint32(3000), a.UID)
	_, err = f.User("bob")
	require.ErrorIs(t, err, ErrNoAccount, "a deleted account is gone at once")
	replace(t, f.Group, "admins:x:2001:\n")
	in, err = f.InGroup(a, "admins")
	require.NoError(t, err)
	require.False(t, in, "gpasswd -d alice admins: seen at once")
}

// TestFilesAccountsFallsBack: whenever the files might not be what NSS
// answers from, or might be read differently by glibc, every question
// goes to the fallback.
func TestFilesAccountsFallsBack(t *testing.T) {
	restedFiles(t)
	for name, c := range map[string]struct{ nsswitch, passwd, group string }{
		"sssd first":         {"passwd: sss files\ngroup: sss files\n", testPasswd, testGroup},
		"compat":             {"passwd: compat\ngroup: compat\n", testPasswd, testGroup},
		"no nsswitch.conf":   {"", testPasswd, testGroup},
		"no passwd line":     {"group: files\n", testPasswd, testGroup},
		"leading blank":      {nssFiles, testPasswd + " mallory:x:0:0::/:/bin/sh\n", testGroup},
		"non-numeric uid":    {nssFiles, testPasswd + "eve:x:1e3:0::/:/bin/sh\n", testGroup},
		"signed uid":         {nssFiles, testPasswd + "eve:x:+5:0::/:/bin/sh\n", testGroup},
		"too few fields":     {nssFiles, testPasswd + "eve:x:1005:1005\n", testGroup},
		"uid beyond 32 bits": {nssFiles, testPasswd + "eve:x:4294967296:0::/:/bin/sh\n", testGroup},
		"no passwd file":     {nssFiles, "", testGroup},
		// glibc ends a service name at '[': sss with an action, then files
		"action glued to a service": {"passwd: sss[NOTFOUND=return] files\ngroup: files\n", testPasswd, testGroup},
		// files first, but an action makes a found name go on to systemd
		"action after files":           {"passwd: files [SUCCESS=continue] systemd\ngroup: files\n", testPasswd, testGroup},
		"line without colon":           {"passwd: files\npasswd sss files\ngroup: files\n", testPasswd, testGroup},
		"passwd named twice":           {"passwd: files\npasswd: sss files\ngroup: files\n", testPasswd, testGroup},
		"no final newline":             {"group: files\npasswd: files", testPasswd, testGroup},
		"CRLF passwd":                  {nssFiles, strings.ReplaceAll(testPasswd, "\n", "\r\n"), testGroup},
		"name starting with -":         {nssFiles, "-mallory:x:1001:1001::/:/bin/sh\n" + testPasswd, testGroup},
		"name starting with +":         {nssFiles, testPasswd + "+:::::::\n", testGroup},
		"passwd without final newline": {nssFiles, strings.TrimSuffix(testPasswd, "\n"), testGroup},
	} {
		t.Run(name, func(t *testing.T) {
			x := newFilesFixture(t, c.nsswitch, c.passwd, c.group)
			x.fallback.users["alice"] = 7001
			a, err := x.f.User("alice")
			require.NoError(t, err)
			require.Equal(t, uint32(7001), a.UID, "answered by the fallback")
			_, _ = x.f.UID(0)
			_, _ = x.f.InGroup(a, "admins")
			require.Equal(t, 3, x.fallback.calls)
		})
	}
	// Groups alone: a group line with another source, or a group file
	// glibc might read otherwise, sends memberships to NSS but keeps
	// the passwd index.
	for name, c := range map[string]struct{ nsswitch, group string }{
		"group from files and sss": {"passwd: files\ngroup: files sss\n", testGroup},
		"blank in a member list":   {nssFiles, testGroup + "x:x:3:alice, bob\n"},
		"no group file":            {nssFiles, ""},
		// nss_files keeps the CR in the member list: "alice\r" is not alice
		"CRLF group":           {nssFiles, strings.ReplaceAll(testGroup, "\n", "\r\n")},
		"initgroups elsewhere": {"passwd: files\ngroup: files\ninitgroups: systemd\n", testGroup},
	} {
		t.Run(name, func(t *testing.T) {
			x := newFilesFixture(t, c.nsswitch, testPasswd, c.group)
			a, err := x.f.User("alice")
			require.NoError(t, err)
			require.Equal(t, uint32(1001), a.UID)
			require.Zero(t, x.fallback.calls)
			_, _ = x.f.InGroup(a, "admins")
			require.Equal(t, 1, x.fallback.calls)
		})
	}
}

// TestFilesAccountsAgreesWithNSS asks glibc (SystemAccounts) and the
// index the same questions about every account and group of this host.
func TestFilesAccountsAgreesWithNSS(t *testing.T) {
	restedFiles(t) // the retry below compares stamps; a new file's would always differ
	f := NewFilesAccounts(SystemAccounts{})
	// Debian's nsswitch.conf has "group: files systemd", which is not
	// indexed (nss-systemd may add memberships); for the comparison the
	// index reads the group file as if files were its only source.
	f.NSSwitch = filepath.Join(t.TempDir(), "nsswitch.conf")
	require.NoError(t, os.WriteFile(f.NSSwitch, []byte("passwd: files\ngroup: files\n"), 0o644))
	// Other tests add and remove accounts meanwhile (the e2e suite runs
	// beside this package): a comparison during which the files changed
	// proves nothing either way and is made again.
	deadline := time.Now().Add(time.Minute)
	for {
		var before [192]byte
		stamp := string(fingerprint(before[:0], f.Passwd, f.Group))
		diffs := compareWithNSS(t, f)
		var after [192]byte
		if string(fingerprint(after[:0], f.Passwd, f.Group)) != stamp {
			require.True(t, time.Now().Before(deadline), "/etc/passwd or /etc/group kept changing for a minute: cannot compare")
			continue
		}
		require.Empty(t, diffs, "the index and glibc disagree")
		return
	}
}

// compareWithNSS asks glibc (SystemAccounts) and f the same questions
// about every account and group f indexes and reports each disagreement.
func compareWithNSS(t *testing.T, f *FilesAccounts) []string {
	idx := f.index()
	if idx.byName == nil {
		testutils.Unmet(t, "this host's /etc/passwd is not indexed (some line is not strict, or it cannot be read): nothing to compare")
	}
	require.NotNil(t, idx.gidOf, "/etc/group is not indexed")
	var sys SystemAccounts
	groups := []string{"nosuch-group-here"}
	for g := range idx.gidOf {
		groups = append(groups, g)
	}
	var diffs []string
	differ := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	for name, e := range idx.byName {
		a, err := sys.User(name)
		if err != nil || a != e.acct {
			differ("user %q: glibc %v %v, index %v", name, a, err, e.acct)
			continue
		}
		if b, err := sys.UID(e.acct.UID); err != nil || b != idx.byUID[e.acct.UID] {
			differ("uid %d: glibc %v %v, index %v", e.acct.UID, b, err, idx.byUID[e.acct.UID])
		}
		for _, g := range groups {
			want, err := sys.InGroup(a, g)
			got, gerr := f.InGroup(a, g)
			if err != nil || gerr != nil || want != got {
				differ("%s in %s: glibc %v %v, index %v %v", name, g, want, err, got, gerr)
			}
		}
	}
	return diffs
}
