package totp

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/e2e/testutils"
)

// oathtoolCase is one random input for the oathtool cross-check.
type oathtoolCase struct {
	secret []byte
	unix   int64
	params Params
	base32 bool // hand oathtool the key as Base32 (tests EncodeSecret too) rather than hex
}

// oathtoolSteps is how many consecutive steps each oathtool run prints (-w),
// so each process checks several codes.
const oathtoolSteps = 3

// TestOathtoolCrossCheck compares Code with OATH Toolkit's oathtool on random
// secrets, times (1970 to beyond 2038 and 2106), algorithms, digit counts and
// periods. The seed is logged; set TOTP_ORACLE_SEED to replay a failure.
func TestOathtoolCrossCheck(t *testing.T) {
	bin, err := exec.LookPath("oathtool")
	if err != nil {
		// On CI or as root (the packaging and e2e hosts) the oracle must be
		// there: a silent skip would hide that nothing was checked.
		testutils.Unmet(t, "oathtool not found (%v): install the Debian package oathtool to run this check", err)
	}
	n := 1000
	if testing.Short() {
		n = 100
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TOTP_ORACLE_SEED"); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "TOTP_ORACLE_SEED")
	}
	t.Logf("seed %d (set TOTP_ORACLE_SEED=%d to replay)", seed, seed)
	cases := randomOathtoolCases(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), n)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	outs := make([][]string, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	next := make(chan int)
	// Starting a process is mostly waiting on the kernel, so more workers
	// than CPUs pays off.
	for range 4 * runtime.NumCPU() {
		wg.Go(func() {
			for i := range next {
				outs[i], errs[i] = runOathtool(ctx, bin, cases[i])
			}
		})
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("%d oathtool runs in %v", len(cases), time.Since(start).Round(time.Millisecond))

	for i, c := range cases {
		require.NoError(t, errs[i], "case %d", i)
		require.Len(t, outs[i], oathtoolSteps, "case %d", i)
		step := c.params.Step(time.Unix(c.unix, 0))
		for j, want := range outs[i] {
			var got string
			if j == 0 {
				got, err = c.params.Code(c.secret, time.Unix(c.unix, 0))
			} else {
				got, err = c.params.CodeAt(c.secret, step+int64(j))
			}
			require.NoError(t, err)
			require.Equal(t, want, got, "case %d step +%d: secret %x, time %d, %+v", i, j, c.secret, c.unix, c.params)
		}
	}
}

// randomOathtoolCases makes n cases; the first few pin the edges of time.
func randomOathtoolCases(r *rand.Rand, n int) []oathtoolCase {
	edges := []int64{0, 1, 29, 30, 59, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32, 20000000000}
	algs := []Algorithm{SHA1, SHA256, SHA512}
	cases := make([]oathtoolCase, n)
	for i := range cases {
		secret := make([]byte, 1+r.IntN(MaxSecretSize))
		for j := range secret {
			secret[j] = byte(r.Uint32())
		}
		var period int64
		switch r.IntN(3) {
		case 0:
			period = 30
		case 1:
			period = 60
		default:
			period = 1 + r.Int64N(300)
		}
		unix := r.Int64N(1 << 35) // to the year 3058
		if i < len(edges) {
			unix = edges[i]
		}
		cases[i] = oathtoolCase{
			secret: secret,
			unix:   unix,
			params: Params{Algorithm: algs[r.IntN(len(algs))], Digits: 6 + r.IntN(3), Period: time.Duration(period) * time.Second},
			base32: r.IntN(2) == 0,
		}
	}
	return cases
}

// runOathtool reports the codes oathtool prints for c and the following steps.
func runOathtool(ctx context.Context, bin string, c oathtoolCase) ([]string, error) {
	key, args := hex.EncodeToString(c.secret), []string{}
	if c.base32 {
		key, args = EncodeSecret(c.secret), []string{"--base32"}
	}
	args = append(args,
		"--totp="+string(c.params.Algorithm),
		"--digits="+strconv.Itoa(c.params.Digits),
		"--time-step-size="+strconv.FormatInt(int64(c.params.Period/time.Second), 10)+"s",
		"--now=@"+strconv.FormatInt(c.unix, 10),
		"--window="+strconv.Itoa(oathtoolSteps-1),
		key)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("oathtool %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(string(out)), nil
}
