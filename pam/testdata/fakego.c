/*
 * fakego — stands in for pam_totpd_go.so in the loader tests, to show
 * what the loader does when the Go half misbehaves. $FAKEGO picks how:
 * kill (dies of SIGKILL), exit (exits without an answer), bogus (answers
 * a result the loader does not expect), or a number to answer.
 * $FAKEGO_AUTHTOK is a password to hand on (totpd_go_authtok; "LONG": one
 * over PAM_MAX_RESP_SIZE - 1 bytes; "MAX": one of
 * exactly that many). $FAKEGO_RAW writes a report of its
 * own to the loader's pipe and exits 0, as a child gone wrong might:
 * good (well formed, result 0, password "pw"), short (half a head),
 * liar (says 20 bytes, sends 5), huge (says 100000), nul (a NUL in the
 * password), trailing (a byte after a good report).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <security/pam_modules.h>

/* report_fd finds the write end of the loader's pipe among the descriptors above stderr. */
static int report_fd(void)
{
	struct stat st;
	for (int fd = 3; fd < 1024; fd++)
		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY)
			return fd;
	return -1;
}

static void raw(const char *mode)
{
	struct { int result; unsigned int len; char tok[16]; } r = { 0, 0, "" };
	size_t n = 8;
	int fd = report_fd();

	if (strcmp(mode, "good") == 0 || strcmp(mode, "trailing") == 0) {
		r.len = 2;
		memcpy(r.tok, "pwX", 3);
		n = 8 + 2 + (mode[0] == 't');
	} else if (strcmp(mode, "short") == 0) {
		n = 6;
	} else if (strcmp(mode, "liar") == 0) {
		r.len = 20;
		memcpy(r.tok, "abcde", 5);
		n = 8 + 5;
	} else if (strcmp(mode, "huge") == 0) {
		r.len = 100000;
	} else if (strcmp(mode, "nul") == 0) {
		r.len = 4;
		memcpy(r.tok, "a\0bc", 4);
		n = 8 + 4;
	}
	if (fd < 0 || write(fd, &r, n) != (ssize_t)n)
		_exit(3);
	_exit(0);
}

int totpd_go_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *mode = getenv("FAKEGO");
	(void)pamh; (void)flags; (void)argc; (void)argv;
	if (getenv("FAKEGO_RAW") != NULL)
		raw(getenv("FAKEGO_RAW"));
	if (mode == NULL)
		return PAM_SUCCESS;
	if (strcmp(mode, "kill") == 0)
		raise(SIGKILL);
	if (strcmp(mode, "exit") == 0)
		_exit(0);
	if (strcmp(mode, "bogus") == 0)
		return 4242;
	return atoi(mode);
}

char *totpd_go_authtok(void)
{
	const char *tok = getenv("FAKEGO_AUTHTOK");
	char *t;
	size_t n;
	if (tok == NULL)
		return NULL;
	if (strcmp(tok, "LONG") != 0 && strcmp(tok, "MAX") != 0)
		return strdup(tok);
	n = strcmp(tok, "LONG") == 0 ? PAM_MAX_RESP_SIZE : PAM_MAX_RESP_SIZE - 1;
	if ((t = malloc(n + 1)) != NULL) {
		memset(t, 'p', n);
		t[n] = '\0';
	}
	return t;
}
