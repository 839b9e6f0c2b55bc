package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// backupCmd is `totpctl backup`.
var backupCmd = &command{
	path: "backup", args: "FILE", minArgs: 1, maxArgs: 1, admin: true,
	summary: "a sealed snapshot of the whole state",
	help: `Writes a consistent snapshot of every user's state (secrets, recovery
codes, lockouts, overrides) to FILE, a new file made 0600: an existing file
or a symbolic link is never written. totpctl opens FILE and hands it to the
daemon, which writes and fsyncs it; logins go on meanwhile.

The backup is sealed under the daemon's master key and is useless without
it: keep a copy of the key (/etc/totpd/master.key, or what the totpd.key
credential was made from) apart from the backups. Anyone who has both has
every user's secrets.`,
	run: runBackup,
}

// restoreCmd is `totpctl restore`.
var restoreCmd = &command{
	path: "restore", args: "FILE", minArgs: 1, maxArgs: 1, admin: true,
	summary: "replace the state with a backup",
	help: `Replaces the whole state with the backup in FILE, atomically: users the
backup does not hold are removed, and a crash leaves the old state or the
new one. Nothing changes unless all of FILE authenticates under the master
key (a backup made under another key, truncated or altered is refused).
Every user's last used step is raised to now, so no code used before the
restore works after it. Recovery codes used after the backup was made stay
used when the current state still holds them; onto a lost state they work
again, so give those users new ones (totpctl recovery-codes). Logins wait
while it runs.`,
	rootOnly: true,
	run:      runRestore,
}

// backupJSON is `backup --json` and `restore --json`.
type backupJSON struct {
	File      string `json:"file"`
	Users     int    `json:"users"`
	Bytes     int64  `json:"bytes"`
	Created   string `json:"created"`
	Host      string `json:"host"`
	KeySource string `json:"key_source"`
}

func runBackup(c *cmdCtx, args []string) error {
	path := args[0]
	f, err := store.CreateBackupFile(path)
	if err != nil {
		return err
	}
	resp, err := c.callWithFile(wire.Request{Op: wire.OpBackup}, f)
	f.Close()
	if err == nil && (resp.Backup == nil) {
		err = errors.New("the daemon sent no description of the backup")
	}
	if err != nil {
		// FILE was made by this run (O_EXCL): it holds no usable backup.
		os.Remove(path)
		return err
	}
	b := resp.Backup
	if c.o.json {
		return writeJSON(c.out(), jsonOf(path, b))
	}
	fmt.Fprintf(c.out(), "Backed up %s to %s (%d bytes), made on %s at %s.\n",
		plural(int64(b.Users), "user"), path, b.Bytes, b.Host, b.Created.In(c.e.loc).Format(layoutSecond))
	fmt.Fprintf(c.out(), "The backup is useless without the master key: it is sealed under %s.\n", keyPlace(b.KeySource))
	fmt.Fprintln(c.out(), "Keep a copy of that key apart from the backup (not beside it); anyone with both has every user's secrets.")
	return nil
}

func runRestore(c *cmdCtx, args []string) error {
	path := args[0]
	f, err := store.OpenBackupFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	resp, err := c.callWithFile(wire.Request{Op: wire.OpRestore}, f)
	if err != nil {
		return err
	}
	b := resp.Backup
	if b == nil {
		return errors.New("the daemon sent no description of the restored backup")
	}
	if c.o.json {
		return writeJSON(c.out(), jsonOf(path, b))
	}
	fmt.Fprintf(c.out(), "Restored %s from %s, a backup made on %s at %s.\n",
		plural(int64(b.Users), "user"), path, b.Host, b.Created.In(c.e.loc).Format(layoutSecond))
	fmt.Fprintln(c.out(), "No code used before now works any more. Where a user's secret changed since the backup was made\n"+
		"(re-enrolled, disabled, or the state lost), the backup's secret is back, with its recovery codes: a phone\n"+
		"disabled since then works again (run totpctl user disable NAME for any that must stay out).")
	return nil
}

// keyPlace names where the master key is, for people.
func keyPlace(src string) string {
	switch {
	case src == "":
		return "the daemon's master key (master_key_file, by default /etc/totpd/master.key)"
	case strings.HasSuffix(src, "/"+store.CredentialName):
		return "the key of the systemd credential " + store.CredentialName + " (" + src + "; keep the key it was made from)"
	}
	return "the key in " + src
}

func jsonOf(path string, b *wire.BackupInfo) backupJSON {
	return backupJSON{File: path, Users: b.Users, Bytes: b.Bytes, Created: b.Created.UTC().Format("2006-01-02T15:04:05Z07:00"), Host: b.Host, KeySource: b.KeySource}
}

// fileCaller is a caller that can pass a file with a request;
// *client.Client is one.
type fileCaller interface {
	CallWithFile(ctx context.Context, req wire.Request, f *os.File) (*wire.Response, error)
}

var _ fileCaller = (*client.Client)(nil)

// withFile is a caller that passes f with every request.
type withFile struct {
	fc fileCaller
	f  *os.File
}

func (w withFile) Call(ctx context.Context, req wire.Request) (*wire.Response, error) {
	return w.fc.CallWithFile(ctx, req, w.f)
}

// callWithFile is call, passing f with the request.
func (c *cmdCtx) callWithFile(req wire.Request, f *os.File) (*wire.Response, error) {
	cc := *c
	if cc.cl == nil {
		cc.cl = c.e.dial(client.ResolveSocket(c.o.socket, c.e.euid()), c.o.timeout)
	}
	fc, ok := cc.cl.(fileCaller)
	if !ok {
		return nil, errors.New("this totpctl cannot pass a file to the daemon")
	}
	cc.cl = withFile{fc, f}
	return cc.call(req)
}
