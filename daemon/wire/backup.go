package wire

import "time"

// BackupInfo answers OpBackup and OpRestore: what the backup holds and
// where the master key that opens it is. The backup file itself never
// crosses the socket: totpctl opens it and passes the descriptor with the
// request (SCM_RIGHTS, daemon/client/fdpass.go).
type BackupInfo struct {
	Users   int       `json:"users"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
	Bytes   int64     `json:"bytes"`
	// KeySource is where the daemon's master key comes from: the key
	// file, or the credential (totpd.key) it was loaded from.
	KeySource string `json:"key_source"`
}
