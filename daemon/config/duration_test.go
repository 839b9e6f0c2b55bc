package config

import (
	"encoding/json"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"+0s", 0},
		{"30s", 30 * time.Second},
		{"15m", 15 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"7d", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"2d3h4m5s", 2*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"500ms", 500 * time.Millisecond},
		{"1h1d", 25 * time.Hour},
		{"106751d", 106751 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", "empty duration"},
		{"-1s", "must not be negative"},
		{"-7d", "must not be negative"},
		{"-0s", "must not be negative"},
		{"+", "not a duration"},
		{"7", "missing unit after 7"},
		{"1d7", "missing unit after 7"},
		{"1w", `unknown unit "w"`},
		{"7D", `unknown unit "D"`},
		{"7 d", `unknown unit " d"`},
		{" 7d", `expected a number before " 7d"`},
		{"d", `expected a number before "d"`},
		{"7dd", `unknown unit "dd"`},
		{"1.2.3s", `"1.2.3" is not a number`},
		{".d", `"." is not a number`},
		{"15 minutes", `unknown unit " minutes"`},
		{"106752d", "too large"},
		{"9999999999999999999s", "too large"},
		{"106751d1d", "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseDuration(tt.in)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{15 * time.Minute, "15m"},
		{90 * time.Minute, "1h30m"},
		{7 * 24 * time.Hour, "7d"},
		{36 * time.Hour, "1d12h"},
		{24*time.Hour + time.Second, "1d1s"},
		{1500 * time.Millisecond, "1.5s"},
		{24*time.Hour + 1500*time.Millisecond, "1d1.5s"},
		{-time.Minute, "-1m"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, Duration(tt.d).String())
			if tt.d >= 0 {
				back, err := ParseDuration(tt.want)
				require.NoError(t, err)
				require.Equal(t, tt.d, back, "round trip")
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	require.NoError(t, d.UnmarshalText([]byte("1d12h")))
	require.Equal(t, 36*time.Hour, d.D())
	require.EqualError(t, d.UnmarshalText([]byte("-1h")), `duration "-1h": must not be negative`)
	require.Equal(t, 36*time.Hour, d.D(), "unchanged after an error")

	b, err := json.Marshal(struct{ D Duration }{Duration(7 * 24 * time.Hour)})
	require.NoError(t, err)
	require.JSONEq(t, `{"D":"7d"}`, string(b))

	// As totpctl would parse --grace.
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var grace Duration
	fs.TextVar(&grace, "grace", Duration(7*24*time.Hour), "grace period")
	require.NoError(t, fs.Parse([]string{"--grace", "3d"}))
	require.Equal(t, 3*24*time.Hour, grace.D())
}
