package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// authInfoEnv is the PAM environment variable in which sshd (with
// ExposeAuthInfo yes) lists the methods the login has passed, one a
// line, e.g. "publickey ssh-ed25519 AAAA…" (sshd_config(5)).
const authInfoEnv = "SSH_AUTH_INFO_0"

// pubKeyID reports the identity of the public keys authInfo says the
// login authenticated with: the hex SHA-256 of its "publickey" lines,
// each with its trailing blanks cut, joined by newlines; "" when there is
// none. It binds a remembered login to the key as well as the address
// (pam_totpd(8)); the daemon hashes it again with the rest of the key.
func pubKeyID(authInfo string) string {
	var keys []string
	for _, line := range strings.Split(authInfo, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if strings.HasPrefix(line, "publickey ") {
			keys = append(keys, line)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return hex.EncodeToString(sum[:])
}
