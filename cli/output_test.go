package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRelative(t *testing.T) {
	now := testNow
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "now"},
		{500 * time.Millisecond, "now"},
		{time.Second, "in 1 second"},
		{-45 * time.Second, "45 seconds ago"},
		{59 * time.Second, "in 59 seconds"},
		{59*time.Second + 600*time.Millisecond, "in 1 minute"},
		{90 * time.Second, "in 2 minutes"},
		{-12 * time.Minute, "12 minutes ago"},
		{59*time.Minute + 40*time.Second, "in 1 hour"},
		{-2 * time.Hour, "2 hours ago"},
		{2*time.Hour + 29*time.Minute, "in 2 hours"},
		{23*time.Hour + 40*time.Minute, "in 1 day"},
		{-26 * time.Hour, "1 day ago"},
		{3 * 24 * time.Hour, "in 3 days"},
		{3*24*time.Hour - time.Hour, "in 3 days"},
		{3*24*time.Hour + 11*time.Hour, "in 3 days"},
		{-40 * 24 * time.Hour, "40 days ago"},
	} {
		require.Equal(t, tc.want, relative(now.Add(tc.d), now), "%v", tc.d)
	}
}

func TestDeadlineText(t *testing.T) {
	require.Equal(t, "-", deadlineText(nil, testNow, time.UTC))
	require.Equal(t, "2026-12-01 14:00 (in 3 days)", deadlineText(at(3*24*time.Hour), testNow, time.UTC))
	require.Equal(t, "2026-11-28 12:00 (passed 2 hours ago)", deadlineText(at(-2*time.Hour), testNow, time.UTC))
	require.Equal(t, "2026-11-28 14:00 (passed now)", deadlineText(at(0), testNow, time.UTC))
	ny := time.FixedZone("EST", -5*3600)
	require.Equal(t, "2026-12-01 09:00 (in 3 days)", deadlineText(at(3*24*time.Hour), testNow, ny))
}

func TestDriftText(t *testing.T) {
	require.Equal(t, "none (0 steps)", driftText(0, 30, "your"))
	require.Equal(t, "-1 step (-30 s): your phone's clock seems 30 s behind the server's", driftText(-1, 30, "your"))
	require.Equal(t, "+3 steps (+90 s): the user's phone's clock seems 90 s ahead of the server's", driftText(3, 30, "the user's"))
	require.Equal(t, "+20 steps (+10 min): your phone's clock seems 10 min ahead of the server's", driftText(20, 30, "your"))
	require.Equal(t, "-5 steps (-2 min 30 s): your phone's clock seems 2 min 30 s behind the server's", driftText(-5, 30, "your"))
}

func TestRFC3339(t *testing.T) {
	require.Nil(t, rfc3339(nil))
	require.Nil(t, rfc3339(&time.Time{}))
	cet := time.Date(2026, 11, 28, 15, 0, 0, 123, time.FixedZone("CET", 3600))
	require.Equal(t, "2026-11-28T14:00:00Z", *rfc3339(&cet))
}
