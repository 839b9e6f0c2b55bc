package main

// The loader's part of forward_pass: the child hands the password to the
// host over the result pipe (struct report in loader/pam_totpd.c), and
// the loader sets PAM_AUTHTOK on the host's handle, where the next module
// finds it. testdata/showtok.c stands in for pam_unix.so use_first_pass
// and shows what it was given.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/wire"
)

const nIgnore = "25"

// showAuthtokLine is a stack line after the module that shows PAM_AUTHTOK
// as "INFO: authtok=…" (testdata/showtok.c), or "INFO: authtok-none".
func showAuthtokLine(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	lib := compileC(t, dir, "showtok.so", "showtok.c", "-shared", "-fPIC", "-lpam")
	require.NoError(t, os.Chmod(lib, 0o644))
	return "auth optional " + lib
}

// handedOn reports the PAM_AUTHTOK the module after ours got, and whether
// it got one.
func handedOn(h hostRun) (string, bool) {
	for _, l := range strings.Split(h.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "INFO: authtok="); ok {
			return v, true
		}
	}
	return "", false
}

func TestLoaderHandsOnAuthtok(t *testing.T) {
	dir := fakeGoDir(t)
	svc := pamService(t, "auth requisite "+filepath.Join(dir, "pam_totpd.so"), showAuthtokLine(t))
	for _, mode := range hostModes {
		h := runHost(t, svc, mode, "1", []string{"FAKEGO=0", "FAKEGO_AUTHTOK=s3cret! x"})
		assert.Equal(t, []string{nSuccess}, h.results, "%s: %s", mode, h.run)
		tok, ok := handedOn(h)
		assert.True(t, ok, "%s: %s", mode, h.run)
		assert.Equal(t, "s3cret! x", tok, mode)
		assert.NotContains(t, h.stdout, "PROMPT", mode)
	}
	for _, tc := range []struct {
		env     []string
		result  string
		authtok string // "": none handed on
	}{
		{[]string{"FAKEGO=25", "FAKEGO_AUTHTOK=pw"}, nSuccess, "pw"},                     // PAM_IGNORE: the stack goes on, with it
		{[]string{"FAKEGO=0", "FAKEGO_AUTHTOK=MAX"}, nSuccess, strings.Repeat("p", 511)}, // the longest PAM response
		{[]string{"FAKEGO=0", "FAKEGO_AUTHTOK=LONG"}, nUnavail, ""},                      // longer: refused, not cut
		{[]string{"FAKEGO=7", "FAKEGO_AUTHTOK=pw"}, nAuthErr, ""},                        // a failure hands nothing on
		{[]string{"FAKEGO=bogus", "FAKEGO_AUTHTOK=pw"}, nAuthErr, ""},
		{[]string{"FAKEGO_RAW=good"}, nSuccess, "pw"}, // the stand-in's own writer is right
	} {
		h := runHost(t, svc, "none", "1", tc.env)
		assert.Equal(t, []string{tc.result}, h.results, "%v: %s", tc.env, h.run)
		tok, ok := handedOn(h)
		assert.Equal(t, tc.authtok != "", ok, "%v: %s", tc.env, h.run)
		assert.Equal(t, tc.authtok, tok, "%v", tc.env)
	}
	// Without a password from the child, PAM_AUTHTOK stays unset.
	h := runHost(t, svc, "none", "1", []string{"FAKEGO=0"})
	assert.Equal(t, []string{nSuccess}, h.results, "%s", h.run)
	assert.Contains(t, h.stdout, "INFO: authtok-none\n")
}

// A report that is not exactly what the loader's child writes is never
// success and hands nothing on, whatever result it claims.
func TestLoaderMalformedReport(t *testing.T) {
	dir := fakeGoDir(t)
	svc := pamService(t, "auth requisite "+filepath.Join(dir, "pam_totpd.so"), showAuthtokLine(t))
	for _, raw := range []string{"short", "liar", "huge", "nul", "trailing"} {
		for _, mode := range hostModes {
			h := runHost(t, svc, mode, "1", []string{"FAKEGO_RAW=" + raw})
			assert.Equal(t, []string{nUnavail}, h.results, "FAKEGO_RAW=%s %s: %s", raw, mode, h.run)
			_, ok := handedOn(h)
			assert.False(t, ok, "FAKEGO_RAW=%s %s", raw, mode)
		}
	}
}

// The real Go part with forward_pass, in a host: one prompt, the
// password set in the host for the next module, nothing of it logged.
func TestLoaderForwardPass(t *testing.T) {
	logs := syslogCapture(t)
	d := newFakeDaemon(t, func(req wire.Request) reply {
		if req.User == "bob" {
			return action(wire.ActionIgnore)
		}
		return promptDigits("123456", 6)(req)
	})
	dir := moduleDir(t)
	svc := pamService(t, moduleLine("requisite", dir, d.Socket, "forward_pass", "debug"), showAuthtokLine(t))
	for _, mode := range hostModes {
		h := runHost(t, svc, mode, "1", nil, "s3cret!123456")
		assert.Equal(t, []string{nSuccess}, h.results, "%s: %s", mode, h.run)
		assert.Equal(t, 1, strings.Count(h.stdout, "PROMPT"), "one prompt: %s", h.run)
		assert.Contains(t, h.stdout, "PROMPT: Password and verification code: \n")
		tok, ok := handedOn(h)
		assert.True(t, ok, "%s: %s", mode, h.run)
		assert.Equal(t, "s3cret!", tok)
		assertNoGoInHost(t, h)
	}
	h := runHost(t, svc, "none", "1", nil, "s3cret!654321")
	assert.Equal(t, []string{nAuthErr}, h.results, "%s", h.run)
	_, ok := handedOn(h)
	assert.False(t, ok, "a wrong code hands nothing on: %s", h.run)

	h = runHostAs(t, svc, "bob", "none", "1", nil, "hunter2")
	assert.Contains(t, h.stdout, "PROMPT: Password: \n")
	assert.Equal(t, 1, strings.Count(h.stdout, "PROMPT"), "one prompt: %s", h.run)
	tok, _ := handedOn(h)
	assert.Equal(t, "hunter2", tok, "%s", h.run)

	if logs != nil {
		got := logs("code accepted, password handed on")
		assert.Contains(t, got, "code accepted, password handed on")
		for _, secret := range []string{"s3cret!", "123456", "654321", "hunter2"} {
			assert.NotContains(t, got, secret, "logged")
		}
	}
}
