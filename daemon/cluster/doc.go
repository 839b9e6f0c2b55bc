// Package cluster is fleet mode's store (PRODUCT.md §8): every host of a
// cluster keeps its users' records in one etcd cluster, so that a user
// enrolls once, a code is accepted once across all hosts and failures on
// any host count towards one lockout.
//
// Fleet is an engine.Backend. Online, Get is a linearizable etcd read and
// Put one transaction conditioned on the key's mod revision, so a record
// another host changed between a host's read and its write is never
// overwritten: the engine decides again (engine.Engine.update). Records
// are sealed under the master key with the user name as associated data
// before they leave the host (store.Sealer); etcd holds no secret in
// clear, and a record copied to another user's key does not open.
//
// Each host also keeps a copy of every record in its own encrypted
// journal (the state directory), kept current by a watch. When etcd does
// not answer within [cluster] timeout the host goes offline: with
// offline = "local" it decides logins from that copy, with the same
// local replay refusal and lockout as a single host, and marks what it
// changed (store.ClusterCopy); with offline = "deny" it answers
// unavailable. Only login decisions are made offline; an enrollment or
// an admin change needs the cluster. When etcd answers again the host
// writes its offline decisions back with the merge of merge.go, reads
// the whole prefix again and follows the watch.
//
// Why a local copy at all: an operator at a console with the network down
// must still get in, and the copy is what lets a host decide without the
// network. The price, which README states: while two hosts are both
// offline, a code accepted on one can be accepted on the other too.
package cluster
