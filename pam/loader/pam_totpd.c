/*
 * pam_totpd.so - the C half of the totpd PAM module.
 *
 * The verification logic is Go (pam_totpd_go.so, beside this file), but
 * the Go runtime must never start inside the host process (ARCHITECTURE.md,
 * "The host matrix"): sshd forks and runs PAM in children and in its monitor, and
 * a Go runtime carried across fork() has no threads and hangs the login.
 * So this loader, which is all the host ever loads, forks a disposable
 * child for each authentication, loads Go there, and passes back only
 * the PAM result through a pipe, with the password forward_pass hands on
 * (struct report). The child shares the host's memory image
 * and file descriptors, so the PAM handle and the host's conversation
 * function (e.g. sshd's socket to its monitor) work unchanged from it.
 *
 * Everything else the host may call (setcred, account, session,
 * password) is answered here, in C, without the Go library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#define PAM_SM_PASSWORD
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#define GO_LIBRARY "pam_totpd_go.so"
#define GO_ENTRY "totpd_go_authenticate"
#define GO_AUTHTOK "totpd_go_authtok"

typedef int (*go_entry_fn)(pam_handle_t *, int, int, const char **);
/* The password the Go half hands on (forward_pass), malloc'ed, or NULL. */
typedef char *(*go_authtok_fn)(void);

/*
 * What the child reports through the pipe, in one write (under PIPE_BUF,
 * so atomic): the PAM result, then the length and bytes of a password to
 * set as PAM_AUTHTOK in the host (length 0: none). A password is at most
 * PAM_MAX_RESP_SIZE - 1 bytes, has no NUL, and is never logged.
 */
struct report {
	int result;
	unsigned int authtok_len;
	char authtok[PAM_MAX_RESP_SIZE];
};
#define REPORT_HEAD offsetof(struct report, authtok)

/* Any address inside this object, for dladdr to name our file. */
static const char self_anchor;

/* The results the Go half may give; anything else is a bug, and a bug must not let anyone in. */
static int result_allowed(int r)
{
	switch (r) {
	case PAM_SUCCESS: case PAM_AUTH_ERR: case PAM_IGNORE: case PAM_AUTHINFO_UNAVAIL:
	case PAM_USER_UNKNOWN: case PAM_MAXTRIES: case PAM_CONV_ERR: case PAM_SERVICE_ERR:
		return 1;
	}
	return 0;
}

/*
 * For root, code we run must be root's alone: the file (not a symlink)
 * and the directory holding it owned by root and not group- or
 * world-writable. The directory check also means nobody but root can swap
 * the file between this check and the dlopen in the child.
 */
static int owned_by_root(pam_handle_t *pamh, const char *path, int want_dir)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot use %s: %m", path);
		return 0;
	}
	if ((want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) ||
	    st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		pam_syslog(pamh, LOG_ERR, "refusing %s: it must be a %s owned by root and "
			   "not writable by group or others", path, want_dir ? "directory" : "regular file");
		return 0;
	}
	return 1;
}

/* go_library finds pam_totpd_go.so in the directory this loader was loaded from. */
static int go_library(pam_handle_t *pamh, char *path, size_t size)
{
	Dl_info info;
	const char *slash;
	int n;

	if (dladdr(&self_anchor, &info) == 0 || info.dli_fname == NULL ||
	    (slash = strrchr(info.dli_fname, '/')) == NULL) {
		pam_syslog(pamh, LOG_ERR, "cannot find the directory pam_totpd.so was loaded from");
		return 0;
	}
	n = snprintf(path, size, "%.*s", (int)(slash - info.dli_fname), info.dli_fname);
	if (n < 0 || (size_t)n >= size || (geteuid() == 0 && !owned_by_root(pamh, path, 1)))
		return 0;
	n = snprintf(path, size, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, GO_LIBRARY);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return geteuid() != 0 || owned_by_root(pamh, path, 0);
}

/* go_call is one call of the Go entry, run on a thread of its own (see child). */
struct go_call {
	go_entry_fn entry;
	go_authtok_fn authtok_fn;
	pam_handle_t *pamh;
	int flags, argc, result;
	const char **argv;
	char *authtok;
};

static void *go_thread(void *arg)
{
	struct go_call *c = arg;

	c->result = c->entry(c->pamh, c->flags, c->argc, c->argv);
	if (c->authtok_fn != NULL)
		c->authtok = c->authtok_fn();
	return NULL;
}

/* read_full reads n bytes, or fewer at EOF or on an error, and reports how many. */
static size_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	return got;
}

/* child runs in the forked process: load Go, authenticate, report, and vanish. */
static void child(pam_handle_t *pamh, int flags, int argc, const char **argv, const char *path,
		  int out, pid_t parent)
{
	void *lib;
	go_entry_fn entry;
	struct go_call call;
	struct report rep;
	size_t len = 0;
	pthread_t t;
	ssize_t n;

	/*
	 * Die with the host: when it gives up on a login (sshd's cleanup,
	 * login's timeout), a child left reading the terminal or the client
	 * would answer nobody, or steal the next login's typing.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	/* Whatever the parent could not flush is the parent's to write, not ours. */
	__fpurge(stdout);
	__fpurge(stderr);
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	entry = lib ? (go_entry_fn)dlsym(lib, GO_ENTRY) : NULL;
	if (entry == NULL) {
		pam_syslog(pamh, LOG_ERR, "cannot load %s: %s", path, dlerror());
		_exit(1);
	}
	/*
	 * Go is entered from a new thread, not this one: for a C thread
	 * calling in, Go asks glibc for the thread's stack, which for the
	 * main thread means reading all of /proc/self/maps (the host's every
	 * mapping), and for any other thread is at hand.
	 */
	call = (struct go_call){ .entry = entry, .authtok_fn = (go_authtok_fn)dlsym(lib, GO_AUTHTOK), .pamh = pamh,
				 .flags = flags, .argc = argc, .argv = argv, .result = PAM_AUTHINFO_UNAVAIL };
	if (pthread_create(&t, NULL, go_thread, &call) == 0)
		pthread_join(t, NULL);
	else
		go_thread(&call);
	memset(&rep, 0, sizeof rep);
	rep.result = call.result;
	if (call.authtok != NULL) {
		len = strlen(call.authtok);
		if (len < sizeof rep.authtok) {
			memcpy(rep.authtok, call.authtok, len);
		} else {
			pam_syslog(pamh, LOG_ERR, "the password to hand on is over %d bytes", PAM_MAX_RESP_SIZE - 1);
			rep.result = PAM_AUTHINFO_UNAVAIL;
			len = 0;
		}
		explicit_bzero(call.authtok, strlen(call.authtok));
		free(call.authtok);
	}
	rep.authtok_len = (unsigned int)len;
	/* The host's conversation may have written to stdio here (pamtester's does). */
	fflush(stdout);
	fflush(stderr);
	do
		n = write(out, &rep, REPORT_HEAD + len); /* under PIPE_BUF into a pipe: atomic */
	while (n < 0 && errno == EINTR);
	explicit_bzero(&rep, sizeof rep);
	/* _exit, not exit: the host's atexit handlers and stdio buffers are not ours to run. */
	_exit(n == (ssize_t)(REPORT_HEAD + len) ? 0 : 1);
}

/*
 * set_authtok sets the password the child handed on as PAM_AUTHTOK here,
 * in the host, for the next module (pam_unix.so use_first_pass), only
 * when the stack is to go on to it (PAM_SUCCESS, PAM_IGNORE). It reports
 * the result to return.
 */
static int set_authtok(pam_handle_t *pamh, struct report *rep)
{
	int r;

	if (rep->authtok_len == 0 || (rep->result != PAM_SUCCESS && rep->result != PAM_IGNORE))
		return rep->result;
	rep->authtok[rep->authtok_len] = '\0';
	if ((r = pam_set_item(pamh, PAM_AUTHTOK, rep->authtok)) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_ERR, "cannot set the password for the next module: %s", pam_strerror(pamh, r));
		return PAM_AUTHINFO_UNAVAIL;
	}
	return rep->result;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	char path[PATH_MAX], extra;
	const char *user = NULL;
	struct report rep;
	int fds[2], status = 0, r, well_formed;
	size_t got;
	pid_t pid, w, parent = getpid();

	/*
	 * The child's changes to the PAM handle die with it, so a user name the
	 * host has yet to ask for is asked for here, where it stays set for the
	 * rest of the stack.
	 */
	if ((r = pam_get_user(pamh, &user, NULL)) != PAM_SUCCESS) {
		if (r == PAM_INCOMPLETE) /* the application will call again */
			return r;
		pam_syslog(pamh, LOG_ERR, "cannot get the user name: %s", pam_strerror(pamh, r));
		return r == PAM_CONV_ERR ? PAM_CONV_ERR : PAM_SERVICE_ERR;
	}
	if (!go_library(pamh, path, sizeof path))
		return PAM_AUTHINFO_UNAVAIL;
	/* Flush now, or the child would inherit and write again what is pending. */
	fflush(stdout);
	fflush(stderr);
	/* O_CLOEXEC: a program the host starts meanwhile must not hold our write end open. */
	if (pipe2(fds, O_CLOEXEC) != 0) {
		pam_syslog(pamh, LOG_ERR, "pipe: %m");
		return PAM_AUTHINFO_UNAVAIL;
	}
	pid = fork();
	if (pid < 0) {
		pam_syslog(pamh, LOG_ERR, "fork: %m");
		close(fds[0]);
		close(fds[1]);
		return PAM_AUTHINFO_UNAVAIL;
	}
	if (pid == 0) {
		close(fds[0]);
		child(pamh, flags, argc, argv, path, fds[1], parent);
	}
	/* Parent: only the child may write, so EOF means it died without an answer. */
	close(fds[1]);
	memset(&rep, 0, sizeof rep);
	got = read_full(fds[0], &rep, REPORT_HEAD);
	well_formed = got == REPORT_HEAD && rep.authtok_len < sizeof rep.authtok &&
		      read_full(fds[0], rep.authtok, rep.authtok_len) == rep.authtok_len &&
		      memchr(rep.authtok, '\0', rep.authtok_len) == NULL;
	/*
	 * Reap the child. ECHILD is fine: a host with SIGCHLD ignored, or a
	 * SIGCHLD handler that reaps everything, got there first; the answer
	 * came through the pipe, which is why there is a pipe.
	 */
	do
		w = waitpid(pid, &status, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != ECHILD)
		pam_syslog(pamh, LOG_ERR, "waitpid: %m");
	/* The report is one write: anything after it is not the child's report. */
	if (well_formed && fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0 && read(fds[0], &extra, 1) > 0)
		well_formed = 0;
	close(fds[0]);
	if (w == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		if (WIFSIGNALED(status))
			pam_syslog(pamh, LOG_ERR, "the authentication process died of signal %d", WTERMSIG(status));
		else
			pam_syslog(pamh, LOG_ERR, "the authentication process failed (exit status %d)", WEXITSTATUS(status));
		r = PAM_AUTHINFO_UNAVAIL;
	} else if (got == 0) {
		pam_syslog(pamh, LOG_ERR, "the authentication process gave no answer");
		r = PAM_AUTHINFO_UNAVAIL;
	} else if (!well_formed) {
		pam_syslog(pamh, LOG_ERR, "the authentication process gave a malformed answer");
		r = PAM_AUTHINFO_UNAVAIL;
	} else if (!result_allowed(rep.result)) {
		pam_syslog(pamh, LOG_ERR, "the authentication process answered %d, not a valid result", rep.result);
		r = PAM_AUTH_ERR;
	} else {
		r = set_authtok(pamh, &rep);
	}
	explicit_bzero(&rep, sizeof rep);
	return r;
}

/* No credentials to set: the second factor leaves nothing behind. */
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_SUCCESS;
}

/* Not an account module: PAM_IGNORE never grants (a stack of only ignores fails). */
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_IGNORE;
}

/* Codes are changed with totpctl, not passwd: neither change nor block anything here. */
PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_IGNORE;
}
