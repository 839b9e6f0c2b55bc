package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/totpd/totpd/daemon/config"
)

// PasswordCredential is the systemd credential that holds the etcd RBAC
// user's password ($CREDENTIALS_DIRECTORY/totpd.etcd-password); when it is
// absent the password is read from [cluster] password_file.
const PasswordCredential = "totpd.etcd-password"

// maxPassword bounds the password file that is read.
const maxPassword = 4096

// clientConfig builds the etcd client's configuration from the [cluster]
// table. It does no network I/O: the client dials lazily, so a host
// whose etcd is down still starts (and decides offline).
func clientConfig(c config.Cluster, credDir string) (clientv3.Config, error) {
	cfg := clientv3.Config{
		Endpoints: c.Endpoints,
		// The client's own log would repeat every retry while a member
		// is down; Fleet logs what an administrator needs.
		Logger: zap.NewNop(),
		// Bounds the authentication that clientv3.New makes for an RBAC
		// user (Fleet.dial); without it New waits for etcd forever.
		DialTimeout: c.Timeout.D(),
		// gRPC backs off between connection attempts up to 120 s, so a
		// host would stay offline that long after etcd is back; the
		// probe asks every probeEvery, and so may the connection.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: probeEvery, Multiplier: 1.6, Jitter: 0.2, MaxDelay: probeEvery},
			MinConnectTimeout: 20 * time.Second, // gRPC's default
		})},
		DialKeepAliveTime:    c.Timeout.D(),
		DialKeepAliveTimeout: c.Timeout.D(),
		AutoSyncInterval:     0,
		RejectOldCluster:     false,
		PermitWithoutStream:  true,
		MaxCallSendMsgSize:   2 << 20,
		MaxCallRecvMsgSize:   16 << 20,
	}
	if c.CAFile != "" || c.CertFile != "" || strings.HasPrefix(firstEndpoint(c), "https://") {
		tc, err := tlsConfig(c)
		if err != nil {
			return cfg, err
		}
		cfg.TLS = tc
	}
	if c.Username != "" {
		pw, err := password(c, credDir)
		if err != nil {
			return cfg, err
		}
		cfg.Username, cfg.Password = c.Username, pw
	}
	return cfg, nil
}

func firstEndpoint(c config.Cluster) string {
	if len(c.Endpoints) == 0 {
		return ""
	}
	return c.Endpoints[0]
}

// tlsConfig loads the CA and the client certificate: a file that cannot
// be read is an error at start, named, rather than a handshake failure
// on every login.
func tlsConfig(c config.Cluster) (*tls.Config, error) {
	info := transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CAFile}
	tc, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("[cluster] TLS files (ca_file %q, cert_file %q, key_file %q): %w", c.CAFile, c.CertFile, c.KeyFile, err)
	}
	tc.MinVersion = tls.VersionTLS12
	return tc, nil
}

// password reads the RBAC user's password from the credential, else
// password_file; a trailing newline is not part of it. The file must be
// a regular file that only its owner can read: it opens the whole
// cluster's state.
func password(c config.Cluster, credDir string) (string, error) {
	path := c.PasswordFile
	if credDir != "" {
		cred := filepath.Join(credDir, PasswordCredential)
		if _, err := os.Lstat(cred); err == nil {
			path = cred
		}
	}
	if path == "" {
		return "", fmt.Errorf("[cluster] username %q is set but there is no password: give the credential %s (LoadCredentialEncrypted=) or set password_file", c.Username, PasswordCredential)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("etcd password file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("etcd password file %s: %w", path, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("etcd password file %s is not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0 && path == c.PasswordFile:
		return "", fmt.Errorf("etcd password file %s has mode %v: others may read it; run chmod 600 %s", path, fi.Mode().Perm(), path)
	case fi.Size() > maxPassword:
		return "", fmt.Errorf("etcd password file %s is %d bytes; a password is at most %d", path, fi.Size(), maxPassword)
	}
	b := make([]byte, fi.Size())
	n, err := io.ReadFull(f, b)
	if err != nil {
		return "", fmt.Errorf("etcd password file %s: %w", path, err)
	}
	pw := strings.TrimRight(string(b[:n]), "\r\n")
	clear(b)
	if pw == "" {
		return "", errors.New("etcd password file " + path + " is empty")
	}
	return pw, nil
}
