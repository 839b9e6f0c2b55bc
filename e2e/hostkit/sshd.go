package hostkit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/totpd/totpd/e2e/proctree"
)

// SSHDBinary is OpenSSH's server.
const SSHDBinary = "/usr/sbin/sshd"

// SSHDOptions say how to run an sshd of one's own.
//
// OpenSSH names its PAM service after argv[0]: sshd runs through a
// symlink Dir/Service → /usr/sbin/sshd (absolute, as sshd's re-exec
// wants), so its PAM service is /etc/pam.d/<Service> and /etc/pam.d/sshd
// is never read.
type SSHDOptions struct {
	// Dir holds the symlink, the host key and sshd_config. The caller
	// makes it (root's) and removes it.
	Dir string
	// Service is the PAM service, /etc/pam.d/<Service>, which the caller
	// writes: it is the name of the symlink.
	Service string
	// DropIn, when set, is a contrib/sshd_config.d file, by absolute
	// path, included as shipped.
	DropIn string
	// Overrides come first in the config: sshd keeps the first value it
	// reads for a keyword, so they win over the drop-in.
	Overrides []string
	// Comment is the config's first line, after "# ".
	Comment string
	// Env is sshd's environment.
	Env []string
	// Output gets sshd's stdout and stderr (with -e, its log).
	Output io.Writer
	// SysProcAttr, when set, is sshd's (a Pdeathsig, say).
	SysProcAttr *syscall.SysProcAttr
	// Ready bounds the wait for sshd's greeting; 0 means 15 s.
	Ready time.Duration
}

// SSHD is a running sshd started by StartSSHD, listening on 127.0.0.1.
type SSHD struct {
	Service    string // its PAM service
	Link       string // the symlink it runs as
	Config     string // the sshd_config it runs with
	ConfigFile string
	HostKey    string // the private host key file; HostKey+".pub" beside it
	Port       int
	Addr       string // 127.0.0.1:Port
	Cmd        *exec.Cmd
	done       chan struct{}
}

// sshdConfig is the sshd_config of an sshd of one's own.
func sshdConfig(comment, hostKey, dropIn string, overrides []string) string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "# %s\n", comment)
	for _, o := range overrides {
		cfg.WriteString(o + "\n")
	}
	fmt.Fprintf(&cfg, `ListenAddress 127.0.0.1
PidFile none
HostKey %s
UsePAM yes
LogLevel VERBOSE
UseDNS no
PermitRootLogin no
StrictModes yes
AuthorizedKeysFile .ssh/authorized_keys
PrintMotd no
PrintLastLog no
# 10 concurrent logins must not meet random early drop.
MaxStartups 200
`, hostKey)
	if dropIn != "" {
		fmt.Fprintf(&cfg, "Include %s\n", dropIn)
	}
	return cfg.String()
}

// StartSSHD makes the symlink, a host key and the config in o.Dir, checks
// the config with sshd -t, starts `sshd -D -e -f CONFIG -p PORT` on a free
// loopback port and waits until it greets a client. On an error nothing
// of it is left running (the files stay in o.Dir).
func StartSSHD(o SSHDOptions) (*SSHD, error) {
	// sshd's privilege separation directory; Debian's ssh.service makes it.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	s := &SSHD{Service: o.Service, Link: filepath.Join(o.Dir, o.Service), done: make(chan struct{})}
	if err := os.Symlink(SSHDBinary, s.Link); err != nil {
		return nil, err
	}
	s.HostKey = filepath.Join(o.Dir, "host_ed25519_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", o.Service, "-f", s.HostKey).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s.Port = port
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.Config = sshdConfig(o.Comment, s.HostKey, o.DropIn, o.Overrides)
	s.ConfigFile = filepath.Join(o.Dir, "sshd_config")
	if err := os.WriteFile(s.ConfigFile, []byte(s.Config), 0o600); err != nil {
		return nil, err
	}

	check := exec.Command(s.Link, "-t", "-f", s.ConfigFile, "-p", strconv.Itoa(port))
	check.Env = o.Env
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sshd -t: %v:\n%s\nconfig:\n%s", err, out, s.Config)
	}

	s.Cmd = exec.Command(s.Link, "-D", "-e", "-f", s.ConfigFile, "-p", strconv.Itoa(port))
	s.Cmd.Env = o.Env
	s.Cmd.Stdout, s.Cmd.Stderr = o.Output, o.Output
	s.Cmd.SysProcAttr = o.SysProcAttr
	if err := s.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = s.Cmd.Wait()
		close(s.done)
	}()
	ready := o.Ready
	if ready == 0 {
		ready = 15 * time.Second
	}
	if err := WaitSSHGreeting(s.Addr, ready, s.done); err != nil {
		s.Stop(5 * time.Second)
		return nil, err
	}
	return s, nil
}

// ErrExited reports a program that ended before doing what was waited for.
var ErrExited = errors.New("the program exited")

// WaitSSHGreeting polls addr until an SSH server there greets with
// "SSH-2.0-", for at most timeout; exited, when closed, means the server
// ended and the wait gives up at once (with ErrExited).
func WaitSSHGreeting(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("sshd on %s exited before serving: %w", addr, ErrExited)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd did not greet on %s within %v", addr, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// HostPublicKey reports the public half of the host key, for a client's
// ssh.FixedHostKey.
func (s *SSHD) HostPublicKey() (ssh.PublicKey, error) {
	pub, err := os.ReadFile(s.HostKey + ".pub")
	if err != nil {
		return nil, err
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	return k, err
}

// Pid reports the listening sshd's pid.
func (s *SSHD) Pid() int { return s.Cmd.Process.Pid }

// Done is closed when the listening sshd has exited.
func (s *SSHD) Done() <-chan struct{} { return s.done }

// Stop ends sshd (SIGTERM, then SIGKILL after grace) and kills by pid the
// processes of its own (per-connection sshds and their children) that were
// running when Stop began. It reports those processes, and whether sshd
// had to be killed.
func (s *SSHD) Stop(grace time.Duration) (left map[int]string, killed bool) {
	left = proctree.Descendants(s.Pid())
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(grace):
		killed = true
		_ = s.Cmd.Process.Kill()
		<-s.done
	}
	for pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left, killed
}
