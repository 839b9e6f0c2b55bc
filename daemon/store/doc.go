// Package store is the persistent, encrypted state of the totpd daemon:
// one Record per user, durable before the daemon answers.
//
// # Why a journal with group commit
//
// Every accepted code and every failed attempt must be on disk (fsync'ed)
// before the daemon answers. A crash-safe replace of a per-user file costs
// two fsyncs (file, then directory) — about 2.35 ms on the reference
// machine, so at most ~425 updates per second however many clients wait.
// The goal is ≥ 2,000 durable updates per second from many concurrent
// clients with a p99 ≤ 5 ms at 500/s. So Put does not write a file of its
// own: it seals the record and queues it for a single writer goroutine,
// which takes everything queued, appends it to a shared journal file as one
// batch with one write and one fdatasync, and only then wakes every waiting
// Put. The cost of an fsync is shared by all the updates that arrived while
// the previous one was running (group commit), so throughput grows with the
// number of concurrent clients while each Put waits at most about two
// fsyncs.
//
// # Layout of the state directory
//
//	keycheck              "TOTPDKC1" | a known text sealed under the master key: a wrong
//	                      key fails Open (keycheck.go)
//	journal-<16 hex gen>  write-ahead journal (format in journal.go); one, more while a
//	                      checkpoint runs or after one failed
//	users/<name>          per-user snapshot written by checkpoints (snapshot.go):
//	                      "TOTPDSN1" | kind (1 record, 2 delete) | seq u64 | sealed record
//	.tmp-*, users/.tmp-*  temporary files of crash-safe replaces, removed at Open
//
// A checkpoint (checkpoint.go) runs in the background when the current
// journal reaches Options.CheckpointBytes (16 MiB by default,
// defaultCheckpointBytes), and on Close. First a new journal generation is
// started (by the writer, or by Close; created as a temporary file,
// fdatasync'ed, renamed, directory fsync'ed), then every user whose latest
// record lives in an older journal gets a new snapshot (temporary file,
// fdatasync — Options.CheckpointWorkers in parallel, 8 by default —, then
// the renames and one fsync of users/; a deleted user's file is removed
// instead), and only then are the older journals unlinked (and the
// directory fsync'ed). A crash at any point leaves either the old journal
// (replayed again) or complete snapshots; temporary files are removed at
// Open. A checkpoint that fails (disk full, a directory planted at
// users/<name>) is logged and retried every 10 s (checkpointRetry) without
// starting more journals; nothing is lost meanwhile, the current journal
// just grows.
//
// Open replays the journals oldest first into an index user → location of
// the latest record (highest Seq wins; a journal record always supersedes
// the snapshot, which was made from an older journal). Snapshots are not
// read at Open (except a few to check the key when keycheck was lost): Get
// reads and decrypts users/<name> lazily, and nothing is cached beyond the
// index, so Open with 10,000 users takes milliseconds (BenchmarkOpen10kUsers:
// about 7 ms with one journal record per user, some 4 MiB, to replay; a
// full 16 MiB journal, read batch by batch, takes about 20 ms) and the
// index costs about 120 bytes per user in the journal.
//
// # Sequence numbers
//
// Record.Seq is a store-wide counter, bumped on every Put and Delete (so it
// strictly increases per user too). Each journal header records the counter
// at its creation, so the counter never goes back after checkpoints.
//
// # Encryption
//
// Every record — journal entries, snapshots, delete markers and the key
// check — is sealed with AES-256-GCM under the 32-byte master key with a
// random 96-bit nonce. The additional data binds a purpose label ("record",
// "delete", "keycheck"), the user name and the sequence number, so a record
// copied into another user's file, or a delete marker passed off as a
// record, fails authentication. Journal entries and snapshots carry the very
// same sealed bytes, so a checkpoint copies them without decrypting.
// (With random nonces one key should seal fewer than 2^32 records, one per
// Put or Delete: 136 years at one update a second, but 25 days at a
// sustained 2,000 a second, the store's throughput goal.)
//
// # Failure policy
//
// Journal batches are framed with a magic, a length, a CRC32C and a count;
// each record in a batch carries its own sequence number. A batch that is
// incomplete or fails its CRC with no valid batch anywhere after it is a
// torn tail — a write that never completed, so never acknowledged — and is
// cut off at Open. A damaged batch followed by valid ones cannot be a torn
// write (a batch is only written after the previous one was fsync'ed), and
// since a damaged batch may hold any users' records, Open fails closed with
// an error naming the file, the offset and what to do, instead of silently
// losing acknowledged updates. A record whose frame is intact but which
// fails authentication (tampering, or a record moved between users) makes
// Get fail for that user only, as does an unreadable, truncated, empty,
// oversized, tampered, symlinked or non-regular snapshot file: the caller
// denies that user; it is never reported as "not enrolled". A delete
// marker is authenticated before a user is reported as absent.
//
// A failed journal write or fdatasync (full or read-only disk, I/O error)
// makes the Puts of that batch return an error; the journal is cut back to
// its last good end and fdatasync'ed again. If even that fails, the store
// refuses every further Put and Delete until it is reopened, because the
// journal's contents are no longer known.
//
// Not covered: an attacker who can write the state directory can roll a
// user back to an older copy of its own files or delete them; AEAD proves
// where a record came from, not that it is the newest. Root owns the
// directory, and such an attacker is root.
//
// # Files, permissions and links
//
// The state directory is created 0700 if missing; if it exists it must be
// a real directory (not a symlink) owned by the daemon's user, and a mode
// looser than 0700 is tightened to 0700 (and logged) rather than refused,
// since the fix is obvious and safe. users/ gets the same treatment. Every
// file is created 0600 and opened relative to a directory descriptor with
// O_NOFOLLOW|O_NONBLOCK, then fstat'ed: a symlink, FIFO, device or
// directory where a state file should be is an error (for that user, or at
// Open for the journal and keycheck), never followed and never waited on.
// An exclusive flock on the state directory keeps a second daemon out.
//
// # User names
//
// The caller validates user names; the store checks again (ValidUser, which
// states the whole rule), because each name becomes a file name in users/:
// a name is never empty, at most 255 bytes (maxUserLen, the file system's
// bound on a file name), valid UTF-8, without '/', NUL or another ASCII
// control character, and does not start with '.' (so it is neither "." nor
// "..", nor the name of a temporary file) or '-'.
package store
