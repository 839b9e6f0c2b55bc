package engine

// Backup and restore (totpctl backup, totpctl restore): the store makes
// and reads the sealed file (daemon/store/backup.go); the engine decides
// what a restored record may keep, under every user's lock.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// backupStore is what a store must do besides Store for backups;
// *store.Store does, through Local.
type backupStore interface {
	Backup(f *os.File, host string, now time.Time) (store.BackupInfo, error)
	ReadBackup(r io.Reader) (*store.Backup, error)
	Replace(recs []store.Record) error
	KeySource() string
}

// Backup writes a sealed, point-in-time backup of every user's record to
// f (opened by totpctl and passed to the daemon) and reports what it
// holds and where the master key that opens it is.
func (e *Engine) Backup(f *os.File, info Info) *wire.Response {
	bs, ok := e.backups()
	if !ok {
		return e.refuse(info, "", wire.ErrCodeInternal, noBackups, "backup failed")
	}
	host, _ := os.Hostname()
	bi, err := bs.Backup(f, host, e.now())
	if err != nil {
		e.logf("backup failed: %v", err)
		return e.refuse(info, "", wire.ErrCodeInternal, "the backup was not written: "+err.Error(), "backup failed")
	}
	e.log(info, "", "ok", fmt.Sprintf("backup of %d users", bi.Users))
	return &wire.Response{Version: wire.Version, Backup: backupInfo(bi, bs.KeySource())}
}

// Restore replaces the whole state with the backup f holds (opened by
// totpctl and passed to the daemon). Nothing changes unless the whole
// backup authenticates under the master key. Every user the backup or
// the current state names is locked for the swap, so no request sees or
// writes a mix; then each restored record is raised so that no code used
// before the restore works after it (raise).
func (e *Engine) Restore(f *os.File, info Info) *wire.Response {
	bs, ok := e.backups()
	if !ok {
		return e.refuse(info, "", wire.ErrCodeInternal, noBackups, "restore failed")
	}
	b, err := bs.ReadBackup(f)
	switch {
	case errors.Is(err, store.ErrBackupKey):
		return e.refuse(info, "", wire.ErrCodeBadRequest, "nothing was restored: "+err.Error(), "backup sealed under another key")
	case err != nil:
		return e.refuse(info, "", wire.ErrCodeBadRequest, "nothing was restored: "+err.Error(), "not a valid backup")
	}
	defer clearSecrets(b.Records)
	present, err := e.store.Users()
	if err != nil {
		return e.refuse(info, "", wire.ErrCodeInternal, "nothing was restored: cannot list the current state: "+err.Error(), "restore failed")
	}
	users := slices.Clone(present)
	for _, r := range b.Records {
		users = append(users, r.User)
	}
	slices.Sort(users)
	users = slices.Compact(users)
	// Requests hold one user's lock at a time and wait for no other, so
	// taking many here cannot deadlock; each waits for that user's
	// request in flight, if any.
	for _, u := range users {
		defer e.lock(u)()
	}
	now := e.now()
	for i := range b.Records {
		r := &b.Records[i]
		live, ok, _, err := e.store.Get(r.User)
		if err != nil {
			ok = false // unreadable now: the backup's record alone
		}
		raise(r, live, ok, now)
	}
	if err := bs.Replace(b.Records); err != nil {
		e.logf("restore failed: %v", err)
		return e.refuse(info, "", wire.ErrCodeInternal, "the restore failed: "+err.Error(), "restore failed")
	}
	e.log(info, "", "ok", fmt.Sprintf("restored %d users from a backup made on %q at %s",
		len(b.Records), b.Info.Host, b.Info.Created.UTC().Format(time.RFC3339)))
	return &wire.Response{Version: wire.Version, Backup: backupInfo(b.Info, bs.KeySource())}
}

// raise makes a restored record refuse every code used before now: its
// last accepted step becomes at least the current step (a code of this
// step or an earlier one is refused as used). When the current state
// still holds the same enrollment (the same secret, and the same uid
// where both records know it: older records carry none), nothing it
// learnt since the backup is forgotten either: its last step, the
// recovery codes spent, and the failures and lockout, so a restore
// cannot unlock a user or reset a guesser's count. A restore onto a lost
// state cannot know which recovery codes were spent after the backup
// (totpctl restore says so).
func raise(r *store.Record, live store.Record, haveLive bool, now time.Time) {
	period := time.Duration(r.PeriodSec) * time.Second
	if period <= 0 {
		period = totp.DefaultParams().Period
	}
	r.LastStep = max(r.LastStep, totp.Params{Period: period}.Step(now))
	// A backup cannot know what was dropped since it was made (remember.go).
	r.Remembered = nil
	if now.After(r.ForgetBefore) {
		r.ForgetBefore = now
	}
	same := haveLive && len(r.Secret) > 0 && string(live.Secret) == string(r.Secret) &&
		(live.UID == nil || r.UID == nil || *live.UID == *r.UID)
	if !same {
		return
	}
	r.LastStep = max(r.LastStep, live.LastStep)
	r.Failures = max(r.Failures, live.Failures)
	if live.LockedUntil.After(r.LockedUntil) {
		r.LockedUntil = live.LockedUntil
	}
	r.LockedForever = r.LockedForever || live.LockedForever
	r.RecoveryHashes = slices.DeleteFunc(r.RecoveryHashes, func(h string) bool {
		return !slices.Contains(live.RecoveryHashes, h)
	})
}

// noBackups is the refusal of backup and restore by a backend without
// them: fleet mode, whose state is etcd's.
const noBackups = "this host keeps its users' state in an etcd cluster (fleet mode), so totpctl backup and restore do not apply: " +
	"back up etcd itself (etcdctl snapshot save), whose records are sealed under the master key, and keep the master key safe apart from it"

// backups reports the backend's backup side, if it has one.
func (e *Engine) backups() (backupStore, bool) {
	b, ok := e.store.(interface{ backups() (backupStore, bool) })
	if !ok {
		return nil, false
	}
	return b.backups()
}

// backupInfo reports bi for the wire.
func backupInfo(bi store.BackupInfo, keySource string) *wire.BackupInfo {
	return &wire.BackupInfo{Users: bi.Users, Created: bi.Created, Host: bi.Host, Bytes: bi.Bytes, KeySource: keySource}
}

// clearSecrets wipes the secrets of recs once they are stored.
func clearSecrets(recs []store.Record) {
	for i := range recs {
		clear(recs[i].Secret)
		if recs[i].Pending != nil {
			clear(recs[i].Pending.Secret)
		}
	}
}
