// Package enrolltext is what a person reads when adding a TOTP secret to
// an authenticator app, written once for totpctl (the enrollment wizard,
// enroll begin and confirm, recovery-codes, user enroll) and for the PAM
// module's enrollment at login: the QR code's heading, the key grouped for
// typing, the Key URI and the recovery codes.
//
// Each comes in two layouts. Terminal and RecoveryTerminal are for a
// terminal that totpctl writes to: a block with one field a line.
// Conversation and RecoveryConversation are for a PAM conversation, whose
// host (sshd, login, a display manager) shows each message as it likes:
// few lines, and the key on the line its heading ends.
//
// The package draws no QR code: callers pass one drawn by package qrterm,
// or "" for none, so that showing an enrollment need not link a QR
// encoder.
package enrolltext

import (
	"fmt"
	"strings"
	"time"

	"github.com/totpd/totpd/totp"
)

// QRHeading introduces the QR code in both layouts.
const QRHeading = "Scan this QR code with your authenticator app:"

// Terminal reports an enrollment for totpctl to print, ending in a
// newline: qr (a QR code drawn for the terminal, ending in a newline, or ""
// for none), then the account, the key grouped for typing, the type of
// code and the URI, one a line. The account and type come from the URI;
// a URI that totp.ParseURI refuses leaves them out.
func Terminal(secret, uri, qr string) string {
	var b strings.Builder
	if qr != "" {
		b.WriteString(QRHeading + "\n\n")
		b.WriteString(qr)
		b.WriteString("\nOr add the account by hand:\n")
	} else {
		b.WriteString("Add this account to your authenticator app:\n")
	}
	k, err := totp.ParseURI(uri)
	if err == nil {
		fmt.Fprintf(&b, "  Account: %s\n", label(k))
	}
	fmt.Fprintf(&b, "  Key:     %s\n", totp.GroupSecret(secret))
	if err == nil {
		fmt.Fprintf(&b, "  Type:    time-based (TOTP), %s, %d digits, every %d seconds\n",
			k.Params.Algorithm, k.Params.Digits, int(k.Params.Period/time.Second))
	}
	fmt.Fprintf(&b, "  URI:     %s\n", uri)
	return b.String()
}

// label reports the name an app shows for k: "Issuer:account", or
// "account" with no issuer.
func label(k totp.Key) string {
	if k.Issuer == "" {
		return k.Account
	}
	return k.Issuer + ":" + k.Account
}

// Conversation reports an enrollment as one message of a login
// conversation, with no final newline: qr (a QR code that fits the
// terminal, ending in a newline, or "" for none), the key grouped for
// typing, and the URI on a line of its own, whole for copying however
// wide it is.
func Conversation(secret, uri, qr string) string {
	var b strings.Builder
	if qr != "" {
		b.WriteString(QRHeading + "\n")
		b.WriteString(qr)
		b.WriteString("or type this key: ")
	} else {
		b.WriteString("Add this key to your authenticator app: ")
	}
	b.WriteString(totp.GroupSecret(secret))
	b.WriteString("\nKey URI (for apps that take one):\n" + uri)
	return b.String()
}

// RecoveryTerminal reports recovery codes for totpctl to print once,
// with what to do with them, ending in a newline.
func RecoveryTerminal(codes []string) string {
	var b strings.Builder
	b.WriteString("Recovery codes: each one works once, in place of a code, if you lose your phone.\n\n")
	for _, c := range codes {
		b.WriteString("    " + c + "\n")
	}
	b.WriteString("\nStore them safely now, in a password manager or on paper, away from the\n" +
		"phone. They will not be shown again; 'totpctl recovery-codes' makes a new set.\n")
	return b.String()
}

// RecoveryConversation reports recovery codes as one message of a login
// conversation, with no final newline. Each code is on a line of its own
// that starts with two spaces, and no other line does.
func RecoveryConversation(codes []string) string {
	var b strings.Builder
	b.WriteString("Recovery codes: write these down now, they are not shown again.\n" +
		"Each one works once in place of a code if you lose your phone.")
	for _, c := range codes {
		b.WriteString("\n  " + c)
	}
	return b.String()
}
