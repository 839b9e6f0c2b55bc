package main

// The PAM and sshd rows of PRODUCT.md §5 are still to be written. Each is
// a section function: measure the anchor (pam_google_authenticator) and
// ours in the same run, and return rows with Anchor, Ratio, Goal and
// Status filled (see daemon.go for the pattern; Bench.Anchor() and the
// daemon helpers in proc.go — fakeUsers, startDaemon — are there to reuse).
//
//   - pam: one PAM authentication as a whole process, `pamtester` with
//     pam_totpd.so vs pam_google_authenticator; goal ratio ≤ 1.0.
//   - ssh: real sshd keyboard-interactive login p50, ours vs GA, same
//     sshd config (sequential), and 300 logins at 10 concurrent with 0
//     failures; goal ratio ≤ 1.05.

func runPAM(b *Bench) ([]Row, error) {
	return []Row{{
		What:   "pamtester auth, ours / pam_google_authenticator",
		Ours:   "not measured yet",
		Anchor: "GA ≈ 5–10 ms",
		Goal:   "ratio ≤ 1.0",
		Status: StatusTodo,
	}}, nil
}

func runSSH(b *Bench) ([]Row, error) {
	return []Row{{
		What:   "sshd keyboard-interactive login p50, ours / GA",
		Ours:   "not measured yet",
		Anchor: "GA p50 44 ms",
		Goal:   "ratio ≤ 1.05; 0 fail in 300 @10",
		Status: StatusTodo,
	}}, nil
}
