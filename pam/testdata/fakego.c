/*
 * fakego — stands in for pam_totpd_go.so in the loader tests, to show
 * what the loader does when the Go half misbehaves. $FAKEGO picks how:
 * kill (dies of SIGKILL), exit (exits without an answer), bogus (answers
 * a result the loader does not expect), or a number to answer.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <security/pam_modules.h>

int totpd_go_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *mode = getenv("FAKEGO");
	(void)pamh; (void)flags; (void)argc; (void)argv;
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
