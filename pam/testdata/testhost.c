/*
 * testhost — a PAM application for the loader tests: it authenticates
 * like a real host would, with a conversation that answers prompts from
 * its arguments, and can install the SIGCHLD handling of hosts that reap
 * children themselves. Afterwards it reports whether the Go library or
 * extra threads ever appeared in its own process.
 *
 * usage: testhost SERVICE USER|- MODES ROUNDS [ANSWERS...]
 * (USER "-": PAM asks for it; ANSWERS: one "a,b,..." per round, where
 * HANG never answers and prints the conversing process's "CONV_PID=N";
 * MODES: "none" or any of reaper-handler, reaper-thread, ignore, alarm)
 * prints: INFO/ERROR/PROMPT lines, then per round "user=U" and "result=N", then
 *         "setcred=N", "go_in_host=0|1", "threads_before=N",
 *         "threads=N", "reaped_by_host=N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <security/pam_appl.h>

/*
 * Answers per round: "a,b" answers the round's first prompt with a and
 * the second with b. The conversation runs in the loader's child, so any
 * state it changes is lost when the round ends; the round number is set
 * in the host, before pam_authenticate.
 */
static char **answers;
static int nanswers, round_no, next_answer;

static char *answer(void)
{
	char *list, *p, *a = NULL;
	int i;
	if (round_no >= nanswers)
		return NULL;
	list = strdup(answers[round_no]);
	for (i = 0, p = strtok(list, ","); p != NULL; i++, p = strtok(NULL, ","))
		if (i == next_answer) {
			a = strdup(p);
			break;
		}
	free(list);
	next_answer++;
	return a;
}

static int conv(int n, const struct pam_message **msgs, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof *r);
	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msgs[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			printf("PROMPT%s: %s\n", msgs[i]->msg_style == PAM_PROMPT_ECHO_ON ? "_ECHO" : "", msgs[i]->msg);
			if ((r[i].resp = answer()) != NULL && strcmp(r[i].resp, "HANG") == 0) {
				/* A person who never answers; the test kills the host. */
				printf("CONV_PID=%d\n", (int)getpid());
				fflush(stdout);
				for (;;)
					pause();
			}
			if (r[i].resp == NULL) {
				free(r);
				return PAM_CONV_ERR;
			}
			break;
		case PAM_ERROR_MSG:
			printf("ERROR: %s\n", msgs[i]->msg);
			break;
		default:
			printf("INFO: %s\n", msgs[i]->msg);
		}
	}
	fflush(stdout);
	*resp = r;
	return PAM_SUCCESS;
}

/* A host thread that reaps every child, as event-loop daemons do. */
static volatile long reaped;
static void *reaper_thread(void *arg)
{
	(void)arg;
	for (;;) {
		if (waitpid(-1, NULL, 0) > 0)
			reaped++;
		else
			usleep(100);
	}
	return NULL;
}

static void tick(int sig)
{
	(void)sig;
}

/* A host that reaps every child itself, blocking, as some daemons do. */
static void reaper(int sig)
{
	int saved = errno;
	(void)sig;
	while (waitpid(-1, NULL, 0) > 0)
		;
	errno = saved;
}

/* scan reports whether a line of file contains needle, and the number after it in *num. */
static int scan(const char *file, const char *needle, long *num)
{
	char line[4096], *at;
	FILE *f = fopen(file, "r");
	int hit = 0;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if ((at = strstr(line, needle)) != NULL) {
			hit = 1;
			if (num)
				*num = strtol(at + strlen(needle), NULL, 10);
		}
	fclose(f);
	return hit;
}

int main(int argc, char **argv)
{
	struct pam_conv c = { conv, NULL };
	pam_handle_t *pamh = NULL;
	struct sigaction sa;
	long threads = -1, threads_before = -1;
	int r, rounds;

	if (argc < 5) {
		fprintf(stderr, "usage: testhost SERVICE USER|- MODES ROUNDS [ANSWERS...]\n");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* Handlers without SA_RESTART: the loader must cope with EINTR. */
	if (strstr(argv[3], "reaper-handler")) {
		sa.sa_handler = reaper;
		sigaction(SIGCHLD, &sa, NULL);
	}
	if (strstr(argv[3], "ignore")) {
		sa.sa_handler = SIG_IGN;
		sigaction(SIGCHLD, &sa, NULL);
	}
	if (strstr(argv[3], "reaper-thread")) {
		pthread_t th;
		pthread_create(&th, NULL, reaper_thread, NULL);
	}
	if (strstr(argv[3], "alarm")) {
		/* A timer signal every 200 microseconds interrupts every slow call. */
		struct itimerval it = { { 0, 200 }, { 0, 200 } };
		sa.sa_handler = tick;
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
	}
	scan("/proc/self/status", "Threads:", &threads_before);
	rounds = atoi(argv[4]);
	answers = argv + 5;
	nanswers = argc - 5;

	r = pam_start(argv[1], strcmp(argv[2], "-") == 0 ? NULL : argv[2], &c, &pamh);
	if (r != PAM_SUCCESS) {
		fprintf(stderr, "pam_start: %d\n", r);
		return 2;
	}
	pam_set_item(pamh, PAM_RHOST, "203.0.113.5");
	pam_set_item(pamh, PAM_TTY, "ssh");
	for (round_no = 0; round_no < rounds; round_no++) {
		const void *user = NULL;
		next_answer = 0;
		r = pam_authenticate(pamh, 0);
		pam_get_item(pamh, PAM_USER, &user);
		printf("user=%s\n", user ? (const char *)user : "(none)");
		printf("result=%d %s\n", r, pam_strerror(pamh, r));
		fflush(stdout);
	}
	printf("setcred=%d\n", pam_setcred(pamh, PAM_ESTABLISH_CRED));
	pam_end(pamh, r);
	if (strstr(argv[3], "alarm")) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL);
	}
	printf("go_in_host=%d\n", scan("/proc/self/maps", "pam_totpd_go", NULL));
	scan("/proc/self/status", "Threads:", &threads);
	printf("threads_before=%ld\nthreads=%ld\nreaped_by_host=%ld\n", threads_before, threads, reaped);
	return 0;
}
