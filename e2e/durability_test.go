package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
)

// attempt kinds in flight when the daemon was killed.
const (
	noneInFlight = iota
	failInFlight
	successInFlight
)

// durUser is what the test knows for sure about one user: only what the
// daemon acknowledged counts.
type durUser struct {
	name   string
	secret string
	codes  []string // recovery codes not yet tried
	// failures acknowledged since the last acknowledged success or reset.
	failures int
	// nextStep is the first TOTP step not yet tried.
	nextStep int64
	// accepted are the codes acknowledged as accepted since the last restart.
	accepted []string
	inFlight int
	// window holds the codes of steps window0 … window0+6 for this round.
	window0 int64
	window  []string
	wrong   string
}

func (u *durUser) enrolled(e adminEnrollment) {
	u.secret = e.Secret
	u.codes = slices.Clone(e.RecoveryCodes)
	u.failures = 0
	u.nextStep = 0
	u.accepted = nil
	u.inFlight = noneInFlight
}

// prepare computes this round's codes by oathtool.
func (u *durUser) prepare(t *testing.T) {
	step := stepOf(time.Now())
	u.window0 = step - 3
	u.window = codesFrom(t, u.secret, u.window0, 7)
	u.wrong = ""
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !slices.Contains(u.window, c) {
			u.wrong = c
			break
		}
	}
	require.NotEmpty(t, u.wrong)
}

// next picks the next attempt: a code expected to succeed (a fresh TOTP
// step or an unused recovery code) or one certain to fail.
func (u *durUser) next(rng *rand.Rand) (code string, kind int) {
	if rng.IntN(10) < 3 {
		now := stepOf(time.Now())
		if s := max(u.nextStep, now); s <= now+1 && s-u.window0 < int64(len(u.window)) {
			u.nextStep = s + 1
			return u.window[s-u.window0], successInFlight
		}
		if len(u.codes) > 0 {
			c := u.codes[0]
			u.codes = u.codes[1:]
			return c, successInFlight
		}
	}
	if rng.IntN(2) == 0 {
		return u.wrong, failInFlight
	}
	b := make([]byte, 11)
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	b[5] = '-'
	return string(b), failInFlight
}

// adminTarget is an account an admin client enrolls and disables in
// turn during the stream; enrolled is what the daemon last acknowledged.
type adminTarget struct {
	name     string
	enrolled bool
	inFlight bool // an enroll or disable was cut by the kill
}

// crashTally counts what a crash may never do; every count must stay 0.
type crashTally struct {
	replayed, backwards, lost, unreadable int
}

func (c crashTally) String() string {
	return fmt.Sprintf("accepted codes that worked again %d, failure counts that went backwards %d, enrollments or disables lost %d, unreadable state %d",
		c.replayed, c.backwards, c.lost, c.unreadable)
}

// TestDurabilityKill kills the daemon with SIGKILL at random moments while
// clients verify codes (successes, failures, recovery codes) and an admin
// enrolls and disables users, restarts it, and checks that every
// acknowledged outcome survived: accepted codes stay used, failures are
// not forgotten, enrollments and disables stay, every user's state is
// readable. TOTPD_E2E_KILLS sets the number of kills (make crash-test:
// 200; make test: the default).
func TestDurabilityKill(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rounds := 20
	if s := os.Getenv("TOTPD_E2E_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		rounds = n
	}
	d := startDaemon(t, b, config{MaxFailures: 1000, RecoveryCodes: 100})
	users := make([]*durUser, 4)
	for i := range users {
		users[i] = &durUser{name: newUser(t).Name}
		users[i].enrolled(d.Enroll(users[i].name))
	}
	targets := make([]*adminTarget, 3)
	for i := range targets {
		targets[i] = &adminTarget{name: newUser(t).Name}
	}
	var tally crashTally
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	started := time.Now()
	var acked, unknown, totalAccepted atomic.Int64

	for round := 0; round < rounds; round++ {
		for _, u := range users {
			if len(u.codes) < 20 {
				u.enrolled(d.Enroll(u.name))
			}
			u.prepare(t)
		}
		// The stream: one client goroutine per user, so each user has at
		// most one attempt in flight when the daemon dies.
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i, u := range users {
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := client.New(d.Socket, 5*time.Second)
				for ctx.Err() == nil {
					code, kind := u.next(wrng)
					u.inFlight = kind
					_, err := cl.Call(context.Background(), wire.Request{Op: wire.OpLoginVerify, User: u.name, Code: code, Service: "e2e-durability"})
					switch errCode(err) {
					case "":
						u.failures = 0
						u.accepted = append(u.accepted, code)
						totalAccepted.Add(1)
					case wire.ErrCodeDenied:
						if kind == successInFlight && len(code) == 11 {
							t.Errorf("%s: an unused recovery code was refused: %v", u.name, err)
						}
						if !strings.Contains(err.Error(), "already used") { // replays are not counted
							u.failures++
						}
					case "unavailable":
						unknown.Add(1)
						return // killed: the attempt's outcome is unknown
					default:
						t.Errorf("%s: unexpected answer %s: %v", u.name, errCode(err), err)
						u.inFlight = noneInFlight
						return
					}
					u.inFlight = noneInFlight
					acked.Add(1)
				}
			}()
		}
		// The admin: enroll a target, then disable it, round the list.
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := client.New(d.Socket, 5*time.Second)
			for i := 0; ctx.Err() == nil; i++ {
				tg := targets[i%len(targets)]
				op := wire.OpUserEnroll
				if tg.enrolled {
					op = wire.OpUserDisable
				}
				tg.inFlight = true
				_, err := cl.Call(context.Background(), wire.Request{Op: op, User: tg.name})
				switch errCode(err) {
				case "":
					tg.enrolled = op == wire.OpUserEnroll
				case "unavailable":
					return // killed: unknown whether it was recorded
				default:
					t.Errorf("admin %s %s: %v", op, tg.name, err)
					return
				}
				tg.inFlight = false
			}
		}()
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // a random moment, not a synchronisation
		d.Kill()
		cancel()
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		d.Start()

		for _, u := range users {
			s := d.Show(u.name)
			if s.StateError != nil || !s.Enrolled {
				t.Errorf("round %d: %s: state error %v, enrolled %v", round, u.name, s.StateError, s.Enrolled)
				tally.unreadable++
				continue
			}
			allowed := []int{u.failures}
			switch u.inFlight {
			case failInFlight:
				allowed = append(allowed, u.failures+1)
			case successInFlight:
				allowed = append(allowed, u.failures+1, 0)
			}
			if !slices.Contains(allowed, s.Failures) {
				t.Errorf("round %d: %s has %d failures on disk; acknowledged since the last success: %d (in flight: %d)",
					round, u.name, s.Failures, u.failures, u.inFlight)
				tally.backwards++
			}
			u.failures, u.inFlight = s.Failures, noneInFlight

			// Every acknowledged accepted code stays used after the crash.
			for _, code := range u.accepted {
				_, err := d.Verify(u.name, code)
				if errCode(err) != wire.ErrCodeDenied {
					t.Errorf("round %d: %s: a code accepted before the crash works again (%v)", round, u.name, err)
					tally.replayed++
				} else if !strings.Contains(err.Error(), "already used") {
					u.failures++ // a used recovery code is just wrong now; a used step is a replay, not counted
				}
			}
			u.accepted = nil
		}
		for _, tg := range targets {
			s := d.Show(tg.name)
			if s.StateError != nil {
				t.Errorf("round %d: %s's state is unreadable: %v", round, tg.name, s.StateError)
				tally.unreadable++
			}
			if s.Enrolled != tg.enrolled && !tg.inFlight {
				t.Errorf("round %d: %s: enrolled %v on disk, but the daemon had acknowledged %v", round, tg.name, s.Enrolled, tg.enrolled)
				tally.lost++
			}
			tg.enrolled, tg.inFlight = s.Enrolled, false
		}
		if t.Failed() {
			t.Fatalf("after %d kills: %s", round+1, tally)
		}
	}

	// A clean stop checkpoints into snapshots; everything is still there.
	require.NoError(t, d.Stop(), "SIGTERM ends totpd cleanly")
	d.Start()
	for _, u := range users {
		s := d.Show(u.name)
		require.Nil(t, s.StateError)
		require.True(t, s.Enrolled)
		require.Equal(t, u.failures, s.Failures, "%s after a clean restart", u.name)
		require.Equal(t, wire.ActionPrompt, d.Query(u.name).Action)
	}
	elapsed := time.Since(started)
	t.Logf("%d kills in %v: %d acknowledged answers (%d accepted codes), %d attempts cut by a kill; %s",
		rounds, elapsed.Round(time.Millisecond), acked.Load(), totalAccepted.Load(), unknown.Load(), tally)
	require.Positive(t, totalAccepted.Load(), "the stream accepted no code at all: the test tested nothing")
}
