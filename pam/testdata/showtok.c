/*
 * showtok — a PAM module for the loader tests that stands in for
 * pam_unix.so use_first_pass: it shows the PAM_AUTHTOK the modules before
 * it left, as "authtok=…" (PAM_TEXT_INFO), or "authtok-none". Applications
 * cannot read PAM_AUTHTOK; modules can.
 */
#include <stddef.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const void *tok = NULL;
	(void)flags; (void)argc; (void)argv;
	if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || tok == NULL)
		pam_info(pamh, "authtok-none");
	else
		pam_info(pamh, "authtok=%s", (const char *)tok);
	return PAM_SUCCESS;
}

int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_SUCCESS;
}
