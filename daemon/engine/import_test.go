package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

func gaImport(t *testing.T, secret []byte, lastStep int64, scratch ...string) *wire.ImportSecret {
	t.Helper()
	return &wire.ImportSecret{Source: wire.ImportGoogleAuthenticator, Secret: totp.EncodeSecret(secret), Algorithm: "SHA1",
		Digits: 6, PeriodSec: 30, Window: 1, LastStep: lastStep, RecoveryCodes: scratch}
}

// TestImport: the imported secret verifies with the same app, a step the
// old module used is refused, a scratch code works once, nothing secret
// reaches the audit, and an enrolled user is not overwritten.
func TestImport(t *testing.T) {
	f := newFixture(t, nil)
	secret := []byte("0123456789abcdefghij")
	p := totp.DefaultParams()
	used := p.Step(f.now)
	imp := gaImport(t, secret, used, "12345678", "87654321")

	// A dry run changes nothing.
	dry := *imp
	dry.DryRun = true
	require.Nil(t, f.e.Import("alice", &dry, info).Error)
	_, ok, _ := f.st.Get("alice")
	require.False(t, ok, "a dry run saves nothing")

	r := f.e.Import("alice", imp, info)
	require.Nil(t, r.Error)
	require.Empty(t, r.Messages, "GA's ±1 is totpd's default window: nothing to report")
	rec, _, _ := f.st.Get("alice")
	require.Equal(t, secret, rec.Secret)
	require.Equal(t, used, rec.LastStep)
	require.Len(t, rec.RecoveryHashes, 2)
	require.Equal(t, hashRecovery("alice", "12345678"), rec.RecoveryHashes[0], "hashed as totpd's recovery codes")

	// The code the old module accepted is refused; the next one works.
	r = f.e.LoginVerify("alice", f.code(t, secret, 0), info)
	require.NotNil(t, r.Error)
	require.Contains(t, r.Error.Message, "already used")
	require.Nil(t, f.e.LoginVerify("alice", f.code(t, secret, 30*time.Second), info).Error)

	// A scratch code works once, and is not a 6-digit code's failure.
	r = f.e.LoginVerify("alice", "87654321", info)
	require.Nil(t, r.Error)
	require.Contains(t, r.Messages[0].Text, "1 left")
	r = f.e.LoginVerify("alice", "87654321", info)
	require.NotNil(t, r.Error, "a scratch code is single use")

	for _, ev := range f.audit.Snapshot() {
		s := fmt.Sprintf("%+v", ev)
		require.NotContains(t, s, imp.Secret)
		require.NotContains(t, s, "12345678")
		require.NotContains(t, s, "87654321")
	}

	// Already enrolled: refused, the record unchanged.
	r = f.e.Import("alice", gaImport(t, []byte("another secret of 20"), -1), info)
	require.NotNil(t, r.Error)
	require.Contains(t, r.Error.Message, "totpctl user disable alice")
	rec2, _, _ := f.st.Get("alice")
	require.Equal(t, secret, rec2.Secret)
}

// TestImportRefusals: each bad import is refused with its reason and
// saves nothing.
func TestImportRefusals(t *testing.T) {
	f := newFixture(t, nil)
	good := func() *wire.ImportSecret { return gaImport(t, []byte("0123456789abcdefghij"), -1) }
	uid := uint32(4242)
	for name, c := range map[string]struct {
		user string
		edit func(*wire.ImportSecret)
		want string
	}{
		"no account":     {"nobody-here", nil, "no account"},
		"bad name":       {"../x", nil, "name"},
		"short secret":   {"alice", func(s *wire.ImportSecret) { s.Secret = totp.EncodeSecret([]byte("12345678")) }, "64 bits"},
		"bad base32":     {"alice", func(s *wire.ImportSecret) { s.Secret = "not base32!" }, "Base32"},
		"bad digits":     {"alice", func(s *wire.ImportSecret) { s.Digits = 9 }, "digits"},
		"bad algorithm":  {"alice", func(s *wire.ImportSecret) { s.Algorithm = "MD5" }, "MD5"},
		"zero period":    {"alice", func(s *wire.ImportSecret) { s.PeriodSec = 0 }, "period"},
		"unknown source": {"alice", func(s *wire.ImportSecret) { s.Source = "yubikey" }, "source"},
		"other uid":      {"alice", func(s *wire.ImportSecret) { s.FileUID = &uid }, "owned by uid 4242"},
		"future step":    {"alice", func(s *wire.ImportSecret) { s.LastStep = totp.DefaultParams().Step(f.now) + 100 }, "ahead"},
		"bad scratch":    {"alice", func(s *wire.ImportSecret) { s.RecoveryCodes = []string{"01234567"} }, "scratch"},
	} {
		imp := good()
		if c.edit != nil {
			c.edit(imp)
		}
		r := f.e.Import(c.user, imp, info)
		require.NotNil(t, r.Error, name)
		require.Contains(t, r.Error.Message, c.want, name)
		require.NotContains(t, r.Error.Message, imp.Secret, name)
	}
	_, ok, _ := f.st.Get("alice")
	require.False(t, ok)
	require.NotNil(t, f.e.Import("alice", nil, info).Error)
}

// TestImportNotes: what does not carry over exactly is said.
func TestImportNotes(t *testing.T) {
	f := newFixture(t, nil)
	imp := gaImport(t, []byte("0123456789abcdefghij"), -1)
	imp.Window, imp.DriftSteps = 3, 9
	r := f.e.Import("bob", imp, info)
	require.Nil(t, r.Error)
	require.Len(t, r.Messages, 2)
	require.Contains(t, r.Messages[0].Text, "3 steps either side")
	require.Contains(t, r.Messages[1].Text, fmt.Sprintf("clamped to totpd's bound, %d", MaxDriftSteps))
	rec, _, _ := f.st.Get("bob")
	require.Equal(t, MaxDriftSteps, rec.DriftSteps)
	require.Equal(t, totp.DefaultParams().Step(f.now), rec.LastStep,
		"a file that names no used step: the code showing now may have been used under the old module a moment ago")
}
