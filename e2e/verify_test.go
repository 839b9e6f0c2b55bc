package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// TestVerify drives login verification through the wire protocol as root,
// as the PAM module does.
func TestVerify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{MaxFailures: 1000})
	u := newUser(t)
	e := d.Enroll(u.Name)

	step := stableStep(t, 4*time.Second)
	c := codesFrom(t, e.Secret, step-1, 3) // step-1, step, step+1

	resp := d.Query(u.Name)
	require.Equal(t, wire.ActionPrompt, resp.Action, "an enrolled user is asked for a code")

	// accepted
	resp, err := d.Verify(u.Name, c[1])
	require.NoError(t, err, "the current code")
	require.False(t, resp.Locked)
	s := d.Show(u.Name)
	require.NotNil(t, s.LastSuccess)
	require.Equal(t, 0, s.Failures)

	// wrong
	_, err = d.Verify(u.Name, wrongCode(t, e.Secret, step))
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "a wrong code")
	require.NotEmpty(t, err.Error())
	require.Equal(t, 1, d.Show(u.Name).Failures)

	// replayed, and older than the last accepted one
	_, err = d.Verify(u.Name, c[1])
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the same code again")
	require.Contains(t, err.Error(), "already used")
	_, err = d.Verify(u.Name, c[0])
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "a code older than the last accepted one")
	require.Equal(t, 1, d.Show(u.Name).Failures, "replays are refused but not counted")

	// The next step's code, sent by 50 clients at the same instant: one wins.
	const n = 50
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = d.Verify(u.Name, c[2])
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch errCode(err) {
		case "":
			wins++
		case wire.ErrCodeDenied:
		default:
			t.Errorf("client %d: %v (%s)", i, err, errCode(err))
		}
	}
	require.Equal(t, 1, wins, "exactly one of %d concurrent uses of one code is accepted", n)
	require.Equal(t, 0, d.Show(u.Name).Failures, "the win reset the count; the other uses are replays, refused but not counted")

	// A recovery code works once.
	resp, err = d.Verify(u.Name, e.RecoveryCodes[3])
	require.NoError(t, err, "a recovery code")
	require.NotEmpty(t, resp.Messages, "the user is told a recovery code was used")
	require.Contains(t, resp.Messages[0].Text, "9 left")
	_, err = d.Verify(u.Name, e.RecoveryCodes[3])
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the recovery code again")
	// Typed in capitals and without the dash, another one still works.
	rc := e.RecoveryCodes[4]
	_, err = d.Verify(u.Name, upper(rc[:5]+rc[6:]))
	require.NoError(t, err, "a recovery code typed in capitals without the dash")
	require.Equal(t, 8, d.Show(u.Name).RecoveryCodesLeft)

	// Other services and users are not confused with this one.
	other := newUser(t)
	_, err = d.Verify(other.Name, c[2])
	require.Equal(t, wire.ErrCodeNotEnrolled, errCode(err))
	require.Equal(t, wire.ActionIgnore, d.Query(other.Name).Action)
	_, err = d.Verify("te2e-nobody-"+randHex(3), "123456")
	require.Equal(t, wire.ErrCodeNoUser, errCode(err))
	d.Alive()

	// The audit trail has the decisions and none of the secrets.
	logs := d.Stderr()
	requireNoSecrets(t, logs, append([]string{e.Secret}, e.RecoveryCodes...), c)
	if !journalPresent() {
		require.Contains(t, logs, `login.verify user="`+u.Name+`" result=ok`)
		require.Contains(t, logs, `login.verify user="`+u.Name+`" result=denied reason="code reused" caller="root" service="e2e"`)
		require.Contains(t, logs, `reason="login recovery code accepted"`)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
