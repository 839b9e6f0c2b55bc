package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppendRequestImport: a request with an ImportSecret is written as
// json.Marshal writes it, decodes back to itself, and is bounded.
func TestAppendRequestImport(t *testing.T) {
	uid := uint32(1234)
	for _, imp := range []*ImportSecret{
		{Source: ImportGoogleAuthenticator, Secret: "JBSWY3DPEHPK3PXP", Algorithm: "SHA1", Digits: 6, PeriodSec: 30, Window: 1, LastStep: 59872556, DriftSteps: -2,
			RecoveryCodes: []string{"12345678", "87654321"}, FileUID: &uid, DryRun: true},
		{Source: ImportOath, Secret: "<&>\u2028", Algorithm: "SHA1", Digits: 8, PeriodSec: 60, Window: -1, LastStep: -1},
		{},
	} {
		r := Request{Version: Version, Op: OpImport, User: "alice", Import: imp}
		want, err := json.Marshal(r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendRequest(nil, &r)))
		var back Request
		require.NoError(t, DecodeRequest(want, &back))
		require.Equal(t, r, back)
		require.NoError(t, r.Validate())
	}
	r := Request{Version: Version, Op: OpImport, Import: &ImportSecret{Secret: strings.Repeat("A", MaxField+1)}}
	var fe *FieldError
	require.ErrorAs(t, r.Validate(), &fe)
	require.Equal(t, "import.secret", fe.Field)
	r.Import = &ImportSecret{RecoveryCodes: make([]string, MaxImportRecovery+1)}
	require.ErrorContains(t, r.Validate(), "import.recovery_codes")
}

// FuzzAppendImport: AppendRequest writes an ImportSecret as json.Marshal does.
func FuzzAppendImport(f *testing.F) {
	f.Add("google-authenticator", "JBSWY3DPEHPK3PXP", "SHA1", 6, 30, 1, int64(-1), 0, "12345678\x0087654321", uint32(1000), true, true)
	f.Add("<&>", "\xff\u2028", "", -1, 0, -5, int64(1)<<40, -3, "", uint32(0), false, false)
	f.Fuzz(func(t *testing.T, source, secret, alg string, digits, period, window int, last int64, drift int, codes string, uid uint32, hasUID, dry bool) {
		imp := &ImportSecret{Source: source, Secret: secret, Algorithm: alg, Digits: digits, PeriodSec: period, Window: window,
			LastStep: last, DriftSteps: drift, DryRun: dry}
		if codes != "" {
			imp.RecoveryCodes = strings.Split(codes, "\x00")
		}
		if hasUID {
			imp.FileUID = &uid
		}
		r := Request{Version: Version, Op: OpImport, User: "u", Import: imp}
		want, err := json.Marshal(r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendRequest(nil, &r)))
	})
}
