package config_test

import (
	"fmt"

	"github.com/totpd/totpd/daemon/config"
)

func ExampleParse() {
	c, err := config.Parse([]byte(`
[totp]
digits = 8

[policy]
require      = "groups"
groups       = ["staff"]
grace_period = "1d12h"
`), "/etc/totpd/totpd.toml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.TOTP.Digits, c.TOTP.Period, c.Policy.Require, c.Policy.Groups, c.Policy.GracePeriod.D())
	// Output: 8 30s groups [staff] 36h0m0s
}

func ExampleParse_errors() {
	_, err := config.Parse([]byte(`
admin_group = "wheel"
[lockout]
max_failures = 0
[totp]
digit = 6
`), "/etc/totpd/totpd.toml")
	fmt.Println(err)
	// Output:
	// /etc/totpd/totpd.toml: [lockout] max_failures = 0: must be at least 1 (allowed: 1 to 1000)
	// /etc/totpd/totpd.toml: [totp] digit: unknown key (did you mean digits?); the keys of [totp] are algorithm, digits, period, window
}

func ExampleLoadOrDefault() {
	// The default path may be missing: the defaults apply.
	c, err := config.LoadOrDefault("/nonexistent/totpd.toml", false)
	fmt.Println(c.Lockout.MaxFailures, c.Lockout.Duration, err)

	// A path the admin named must exist.
	_, err = config.LoadOrDefault("/nonexistent/totpd.toml", true)
	fmt.Println(err)
	// Output:
	// 5 15m <nil>
	// open /nonexistent/totpd.toml: no such file or directory
}
