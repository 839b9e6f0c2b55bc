package engine

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// FilesAccounts answers from an index of /etc/passwd and /etc/group,
// built once per change of those files, where nsswitch.conf makes them
// the answer NSS would give, and asks Fallback for the rest.
//
// The reason is cost: NSS's files backend reads /etc/passwd line by
// line for every lookup, 0.5–0.8 ms for one of 10,000 accounts, which
// is more than everything else a verification costs together. The index
// gives the same answers because it only answers what glibc would answer
// from the same files:
//   - a name or uid found in /etc/passwd, when "files" is the first
//     source of nsswitch.conf's passwd line (NSS stops at the first source
//     that knows the name; the first line of a name or uid wins, as in
//     nss_files);
//   - a group membership, when the group line's only source is "files"
//     and the account came from /etc/passwd (its primary gid is known):
//     member of a group if its primary gid is the group's gid or some line
//     of /etc/group with that gid lists it, as getgrouplist reports.
//
// Everything else (a name not in the file, LDAP through sssd, a host
// without nsswitch.conf, "compat") goes to Fallback. When a line of either
// file does not parse strictly (leading blanks, a non-numeric id, too few
// fields), glibc might still read it differently from us, so that file is
// not indexed at all and Fallback answers everything it would have.
type FilesAccounts struct {
	Fallback Accounts
	// NSSwitch, Passwd and Group are the files read; DefaultFiles sets
	// the system's.
	NSSwitch, Passwd, Group string

	mu    sync.Mutex // held while a changed file is re-read
	stamp string     // the files' identity when idx was built
	idx   *filesIndex
}

// NewFilesAccounts returns the index over the system's files, asking
// fallback for what the files cannot answer.
func NewFilesAccounts(fallback Accounts) *FilesAccounts {
	return &FilesAccounts{Fallback: fallback, NSSwitch: "/etc/nsswitch.conf", Passwd: "/etc/passwd", Group: "/etc/group"}
}

// filesIndex is one reading of the files.
type filesIndex struct {
	byName map[string]passwdEntry // nil: passwd is not indexed
	byUID  map[uint32]Account
	gidOf  map[string]uint32   // group name → gid; nil: groups are not indexed
	listed map[string][]uint32 // user → gids of the group lines listing it
}

type passwdEntry struct {
	acct Account
	gid  uint32
}

// User implements Accounts.
func (f *FilesAccounts) User(name string) (Account, error) {
	if e, ok := f.index().byName[name]; ok {
		return e.acct, nil
	}
	return f.Fallback.User(name)
}

// UID implements Accounts.
func (f *FilesAccounts) UID(uid uint32) (Account, error) {
	if a, ok := f.index().byUID[uid]; ok {
		return a, nil
	}
	return f.Fallback.UID(uid)
}

// InGroup implements Accounts.
func (f *FilesAccounts) InGroup(a Account, group string) (bool, error) {
	x := f.index()
	e, ok := x.byName[a.Name]
	if !ok || x.gidOf == nil || e.acct.UID != a.UID {
		return f.Fallback.InGroup(a, group)
	}
	gid, ok := x.gidOf[group]
	if !ok {
		return false, nil // no such group: it has no members
	}
	return e.gid == gid || slices.Contains(x.listed[a.Name], gid), nil
}

// index reports the index of the files as they are now, re-reading them
// when they changed since the last call.
func (f *FilesAccounts) index() *filesIndex {
	var buf [192]byte
	stamp := fingerprint(buf[:0], f.NSSwitch, f.Passwd, f.Group)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.idx != nil && string(stamp) == f.stamp { // compared without a copy: no allocation per lookup
		return f.idx
	}
	f.idx = readFilesIndex(f.NSSwitch, f.Passwd, f.Group)
	f.stamp = string(stamp)
	return f.idx
}

// readFilesIndex reads the files into an index of what they answer for
// NSS (see FilesAccounts). A file that cannot be read is not indexed.
func readFilesIndex(nsswitch, passwd, group string) *filesIndex {
	x := &filesIndex{}
	sources, ok := nssSources(nsswitch)
	if !ok {
		return x
	}
	if p := sources["passwd"]; len(p) > 0 && p[0] == "files" {
		x.byName, x.byUID = readPasswd(passwd)
	}
	// getgrouplist follows the initgroups line where there is one.
	init, hasInit := sources["initgroups"]
	if g := sources["group"]; x.byName != nil && len(g) == 1 && g[0] == "files" && (!hasInit || len(init) == 1 && init[0] == "files") {
		x.gidOf, x.listed = readGroup(group)
	}
	return x
}

// nssSources reports the services of each database in nsswitch.conf, in
// order. It reports false, and the caller indexes nothing, wherever
// glibc's reading could differ from this plain one: a [STATUS=action]
// item anywhere in a line of passwd, group or initgroups (an action
// changes what a found or absent name means), one of them named twice or
// without its colon, or a last line without its newline (glibc drops it).
func nssSources(path string) (map[string][]string, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 0 && b[len(b)-1] != '\n' {
		return nil, false
	}
	watched := map[string]bool{"passwd": true, "group": true, "initgroups": true}
	m := map[string][]string{}
	for line := range strings.Lines(string(b)) {
		line, _, _ = strings.Cut(line, "#")
		db, rest, colon := strings.Cut(line, ":")
		db = strings.TrimSpace(db)
		if !colon {
			if f := strings.Fields(line); len(f) > 0 && watched[strings.TrimRight(f[0], "[")] {
				return nil, false
			}
			continue
		}
		if !watched[db] {
			continue
		}
		if _, twice := m[db]; twice || strings.ContainsAny(rest, "[]=") {
			return nil, false
		}
		m[db] = strings.Fields(rest)
	}
	return m, true
}

// eachLine calls fn with the fields of every line of path that is not
// empty or a comment, split at ':' into at most n fields. It reports
// false when the file cannot be read, does not end in a newline, or has
// a line glibc might read otherwise: a control byte in it (a CR of a
// CRLF file stays in nss_files' last field), fewer than n fields, a name
// starting with '+' or '-' (nss_files skips those) or one fn refuses.
func eachLine(path string, n int, fn func(fields []string) bool) bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 0 && b[len(b)-1] != '\n' {
		return false
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSuffix(line, "\n")
		if strings.TrimSpace(line) == "" || line[0] == '#' {
			continue
		}
		if strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) || line[0] == '+' || line[0] == '-' {
			return false
		}
		fields := strings.SplitN(line, ":", n)
		if len(fields) < n || !fn(fields) {
			return false
		}
	}
	return true
}

// strictID parses a uid or gid as nothing but decimal digits.
func strictID(s string) (uint32, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}

// readPasswd indexes a passwd file by name and by uid, the first line of
// each winning; nil maps when it cannot be read or a line is not strict.
func readPasswd(path string) (map[string]passwdEntry, map[uint32]Account) {
	byName, byUID := map[string]passwdEntry{}, map[uint32]Account{}
	ok := eachLine(path, 7, func(f []string) bool {
		uid, ok1 := strictID(f[2])
		gid, ok2 := strictID(f[3])
		if f[0] == "" || f[0] != strings.TrimSpace(f[0]) || !ok1 || !ok2 {
			return false
		}
		a := Account{Name: f[0], UID: uid}
		if _, dup := byName[a.Name]; !dup {
			byName[a.Name] = passwdEntry{acct: a, gid: gid}
		}
		if _, dup := byUID[uid]; !dup {
			byUID[uid] = a
		}
		return true
	})
	if !ok {
		return nil, nil
	}
	return byName, byUID
}

// readGroup indexes a group file: each group name's gid (its first line)
// and, for each listed member, the gids of the lines listing it.
func readGroup(path string) (map[string]uint32, map[string][]uint32) {
	gidOf, listed := map[string]uint32{}, map[string][]uint32{}
	ok := eachLine(path, 4, func(f []string) bool {
		gid, ok := strictID(f[2])
		if f[0] == "" || f[0] != strings.TrimSpace(f[0]) || !ok {
			return false
		}
		if _, dup := gidOf[f[0]]; !dup {
			gidOf[f[0]] = gid
		}
		for _, m := range strings.Split(f[3], ",") {
			if m != strings.TrimSpace(m) {
				return false
			}
			if m != "" {
				listed[m] = append(listed[m], gid)
			}
		}
		return true
	})
	if !ok {
		return nil, nil
	}
	return gidOf, listed
}
