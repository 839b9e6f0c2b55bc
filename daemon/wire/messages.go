package wire

import "time"

// Op names an operation. The daemon decides who may call each one from
// the caller's SO_PEERCRED uid, never from anything in the request; the
// daemon's table of operations (package server, ops) says who may call
// each and what answers it. The groups below say the same, for clients.
type Op string

// Operations for the PAM module (uid 0, or the user itself).
const (
	// OpLoginQuery asks what applies to User at a login: see Action.
	OpLoginQuery Op = "login.query"
	// OpLoginVerify checks Code (a TOTP or recovery code) for User.
	OpLoginVerify Op = "login.verify"
	// OpLoginEnrollBegin starts an enrollment inside the login
	// conversation when the policy has enroll_at_login.
	OpLoginEnrollBegin Op = "login.enroll-begin"
	// OpLoginEnrollConfirm finishes it with Codes and lets the login in.
	OpLoginEnrollConfirm Op = "login.enroll-confirm"
)

// Operations a user runs about itself; User is ignored, the caller's uid names the user.
const (
	OpEnrollBegin   Op = "enroll.begin"
	OpEnrollConfirm Op = "enroll.confirm"
	OpStatus        Op = "status"
	OpDisable       Op = "disable"
	OpRecoveryCodes Op = "recovery-codes"
)

// Admin operations: uid 0 or a member of admin_group.
const (
	OpUsers       Op = "admin.users"
	OpUserShow    Op = "admin.show"
	OpUserEnroll  Op = "admin.enroll"
	OpUserDisable Op = "admin.disable"
	OpUserUnlock  Op = "admin.unlock"
	OpUserCheck   Op = "admin.check"
	OpUserRequire Op = "admin.require"
	OpUserExempt  Op = "admin.exempt"
	// OpUserForget drops the user's remembered logins (`totpctl user forget`).
	OpUserForget Op = "admin.forget"

	// The admin tools of ARCHITECTURE.md, "Admin tools".
	OpImport  Op = "admin.import"  // one user's secret from another TOTP module's file
	OpBackup  Op = "admin.backup"  // a sealed snapshot of the whole state
	OpRestore Op = "admin.restore" // replace the state with a backup
	OpMetrics Op = "admin.metrics" // the counters, as Prometheus text
	// OpClusterStatus reports where the state lives (fleet mode, §8).
	OpClusterStatus Op = "admin.cluster-status"
)

// Request is the body of every message a client sends. Its free-text
// fields are bounded (Validate, MaxField) and its user name checked
// (names.Check) before the daemon uses or audits any of them.
type Request struct {
	Version int    `json:"v"`
	Op      Op     `json:"op"`
	User    string `json:"user,omitempty"`
	// Code is a TOTP code or a recovery code.
	Code string `json:"code,omitempty"`
	// Codes are the consecutive codes that confirm an enrollment.
	Codes []string `json:"codes,omitempty"`
	// Service, RHost and TTY describe the login for the audit log.
	Service string `json:"service,omitempty"`
	RHost   string `json:"rhost,omitempty"`
	TTY     string `json:"tty,omitempty"`
	// PubKey identifies the public key the login authenticated with, when
	// the host says (sshd's SSH_AUTH_INFO_0 with ExposeAuthInfo yes): the
	// hex SHA-256 of its "publickey" lines, for a remembered login's key
	// (daemon/engine/remember.go). Empty: none known.
	PubKey string `json:"pubkey,omitempty"`
	// Flow names the conversation the PAM module runs when it is not the
	// usual one: FlowForwardPass. A remembered login does not apply to it,
	// since its one prompt takes password and code together and a
	// remembered answer would leave nothing to hand the password on by.
	Flow string `json:"flow,omitempty"`
	// Grace overrides the grace period for OpUserRequire ("7d", "12h");
	// empty means the configured grace_period.
	Grace string `json:"grace,omitempty"`
	// Import is the secret OpImport stores (wire/import.go).
	Import *ImportSecret `json:"import,omitempty"`
}

// FlowForwardPass is Request.Flow for the module's forward_pass: password
// and code at one prompt (pam_totpd(8)).
const FlowForwardPass = "forward_pass"

// Action tells the PAM module what to do for a login (OpLoginQuery).
type Action string

// Actions of OpLoginQuery.
const (
	// ActionPrompt: ask for a code and send it with OpLoginVerify.
	ActionPrompt Action = "prompt"
	// ActionIgnore: totpd does not apply to this user (PAM_IGNORE).
	ActionIgnore Action = "ignore"
	// ActionAllow: let the login in without a code (unenrolled, in grace).
	ActionAllow Action = "allow"
	// ActionDeny: refuse the login (locked, past the deadline).
	ActionDeny Action = "deny"
	// ActionEnroll: run the enrollment conversation (OpLoginEnrollBegin).
	ActionEnroll Action = "enroll"
)

// Error codes in Response.Error.Code; clients branch on these, people read Message.
const (
	ErrCodeBadRequest  = "bad_request"  // malformed or invalid request
	ErrCodeVersion     = "version"      // protocol version not spoken
	ErrCodePermission  = "permission"   // caller may not do this
	ErrCodeNoUser      = "no_user"      // no such account
	ErrCodeNotEnrolled = "not_enrolled" // user has no secret
	ErrCodeNoPending   = "no_pending"   // confirm without a begun enrollment
	ErrCodeDenied      = "denied"       // wrong code, replay, refused
	ErrCodeLocked      = "locked"       // too many failures
	ErrCodeRequired    = "required"     // policy requires the user (disable refused)
	ErrCodeState       = "state"        // stored state unreadable: denied, admin must look
	ErrCodeInternal    = "internal"     // disk full, I/O error: denied, nothing recorded
	ErrCodeBusy        = "busy"         // too many connections
	// ErrCodeUnavailable: fleet mode with offline = "deny" and the etcd
	// cluster not answering: nothing was decided (PAM_AUTHINFO_UNAVAIL).
	ErrCodeUnavailable = "unavailable"
)

// Error is a refusal: Code for programs, Message for people.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Message is a line the PAM module shows the person logging in.
type Message struct {
	// Error selects PAM_ERROR_MSG instead of PAM_TEXT_INFO.
	Error bool   `json:"error,omitempty"`
	Text  string `json:"text"`
}

// Response is the body of every message the daemon sends.
type Response struct {
	Version int    `json:"v"`
	Error   *Error `json:"error,omitempty"`
	// Messages are for the person logging in or running totpctl.
	Messages []Message `json:"messages,omitempty"`
	// Action answers OpLoginQuery.
	Action Action `json:"action,omitempty"`
	// Digits is the length of the user's TOTP codes (6 to 8), sent with
	// ActionPrompt: the module's forward_pass takes that many digits off
	// the end of "password and code" (pam_totpd(8)).
	Digits int `json:"digits,omitempty"`
	// Locked is set when a refusal is due to the lockout.
	Locked bool `json:"locked,omitempty"`

	Status     *Status     `json:"status,omitempty"`
	Users      []Status    `json:"users,omitempty"`
	Enrollment *Enrollment `json:"enrollment,omitempty"`
	Check      *Check      `json:"check,omitempty"`
	// Metrics answers OpMetrics: the Prometheus text exposition.
	Metrics string `json:"metrics,omitempty"`
	// Backup answers OpBackup and OpRestore (wire/backup.go).
	Backup *BackupInfo `json:"backup,omitempty"`
	// Cluster answers OpClusterStatus.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
	// Forgotten answers OpUserForget: how many remembered logins went.
	Forgotten *int `json:"forgotten,omitempty"`
}

// ClusterStatus is where this host keeps its users' state and whether it
// can reach it: `totpctl cluster status`.
type ClusterStatus struct {
	// Backend is "local" (this host only) or "etcd" (fleet mode).
	Backend string `json:"backend"`
	// Online is whether the backend answers: always true for "local";
	// for "etcd", false while this host decides from its local copy
	// (offline = "local") or refuses (offline = "deny").
	Online bool `json:"online"`
	// Pending counts users whose offline decisions are not yet written
	// back to etcd.
	Pending int `json:"pending"`
	// Endpoints are the etcd endpoints of the configuration.
	Endpoints []string `json:"endpoints,omitempty"`
	// Offline is the [cluster] offline setting, "local" or "deny".
	Offline string `json:"offline,omitempty"`
	// Since is when the host last went online or offline (RFC 3339);
	// empty for "local".
	Since string `json:"since,omitempty"`
	// LastError is why the host is offline, for the administrator.
	LastError string `json:"last_error,omitempty"`
}

// Status describes one user, for `totpctl status`, `users` and `user show`.
type Status struct {
	User          string     `json:"user"`
	Enrolled      bool       `json:"enrolled"`
	Required      bool       `json:"required"`
	Override      string     `json:"override,omitempty"` // "require" | "exempt" | ""
	Deadline      *time.Time `json:"deadline"`
	Locked        bool       `json:"locked"`
	LockedUntil   *time.Time `json:"locked_until"`
	Failures      int        `json:"failures"`
	LastSuccess   *time.Time `json:"last_success"`
	RecoveryCodes int        `json:"recovery_codes_left"`
	Pending       bool       `json:"pending_enrollment"`
	ServerTime    time.Time  `json:"server_time"`
	DriftSteps    int        `json:"drift_steps"`
	PeriodSec     int        `json:"period_seconds,omitempty"`
	StateError    string     `json:"state_error,omitempty"`
}

// Enrollment is a new secret to give an authenticator app, and, once
// confirmed, the recovery codes to write down. Secret and RecoveryCodes
// are shown to their owner once and never logged.
type Enrollment struct {
	User          string   `json:"user"`
	Secret        string   `json:"secret,omitempty"` // Base32
	URI           string   `json:"uri,omitempty"`
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
	ConfirmCodes  int      `json:"confirm_codes,omitempty"`
	// Text is what the login conversation shows, rendered by the daemon
	// (QR code, key, URI for login.enroll.begin; the recovery codes for
	// login.enroll.confirm), so that the PAM module links no QR encoder.
	Text string `json:"text,omitempty"`
}

// Check answers OpUserCheck: whether a code is valid now and, if not,
// how far off the clock that made it seems to be.
type Check struct {
	User       string `json:"user"`
	Valid      bool   `json:"valid"`
	DriftSteps *int   `json:"drift_steps"`
	PeriodSec  int    `json:"period_seconds"`
	Reason     string `json:"reason,omitempty"`
}
