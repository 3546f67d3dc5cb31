/*
 * pm-helper: the tiny PID 1 that process-manager hands itself over to.
 *
 *   pm-helper PROGRAM [ARG...]
 *
 * It forks PROGRAM (the manager), forwards every signal it receives except
 * SIGCHLD to it, and reaps every child that ends up under it. When PROGRAM
 * exits, it sweeps whatever is left in the PID namespace (TERM, a short grace,
 * then KILL) and exits with PROGRAM's status.
 *
 * The helper only ever waits for orphans and for PROGRAM: the supervised
 * process is PROGRAM's child, so PROGRAM's runtime is the only one that can
 * collect its exit status. That is the bug of the system this replaces, which
 * reaped inside the manager and stole the status.
 *
 * Exit status: PROGRAM's exit code, or 128+signal when a signal killed it;
 * 126 when PROGRAM is not executable, 127 when it does not exist, 1 when the
 * helper itself cannot work (a failed system call, no PROGRAM given).
 *
 * Environment:
 *   PM_HELPER_GRACE_MS  how long the sweep waits after TERM before KILL
 *                       (default 2000).
 *
 * No signal handlers at all: every signal stays blocked and is taken
 * synchronously with sigwaitinfo/sigtimedwait, so async-signal safety never
 * arises and an idle helper sleeps in the kernel without any timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_GRACE_MS 2000
#define EXIT_HELPER_FAILED 1
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

static const char *prog_name = "pm-helper";

static void log_error(const char *what)
{
	fprintf(stderr, "%s: %s failed: %s\n", prog_name, what, strerror(errno));
}

static int status_to_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status)) & 0xff;
	return EXIT_HELPER_FAILED;
}

/* Block every signal we may take; faults stay deliverable so a bug in the
 * helper crashes it visibly instead of looping. */
static int block_signals(sigset_t *blocked, sigset_t *original)
{
	static const int faults[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS };
	size_t i;

	if (sigfillset(blocked)) {
		log_error("sigfillset");
		return 1;
	}
	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(blocked, faults[i]);
	if (sigprocmask(SIG_SETMASK, blocked, original)) {
		log_error("sigprocmask");
		return 1;
	}
	return 0;
}

/* Not PID 1 (a local run, or shareProcessNamespace): become a subreaper so
 * the orphans of our subtree still come to us rather than to a PID 1 that may
 * not reap. */
static void adopt_orphans_if_not_init(void)
{
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		log_error("prctl(PR_SET_CHILD_SUBREAPER)");
}

static pid_t spawn_program(char *const argv[], const sigset_t *original)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_error("fork");
		return -1;
	}
	if (pid > 0)
		return pid;

	/* The program starts with the signal mask our own parent gave us, not
	 * with everything blocked. */
	if (sigprocmask(SIG_SETMASK, original, NULL)) {
		log_error("sigprocmask");
		_exit(EXIT_HELPER_FAILED);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "%s: exec %s failed: %s\n", prog_name, argv[0], strerror(errno));
	_exit(errno == ENOENT ? EXIT_NOT_FOUND : errno == EACCES ? EXIT_NOT_EXECUTABLE : EXIT_HELPER_FAILED);
}

#define PROGRAM_REAPED 1
#define NO_CHILD_LEFT 2

/* Collect every child that has ended, without blocking. Returns a mask of
 * PROGRAM_REAPED (its status is then in *program_status_ptr) and
 * NO_CHILD_LEFT. */
static int reap_children(pid_t program, int *program_status_ptr)
{
	int result = 0;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			if (pid == program) {
				*program_status_ptr = status;
				result |= PROGRAM_REAPED;
			}
			continue;
		}
		if (pid == 0)
			return result;
		if (errno == EINTR)
			continue;
		if (errno == ECHILD)
			return result | NO_CHILD_LEFT;
		log_error("waitpid");
		return result;
	}
}

static void forward_signal(pid_t program, int signo)
{
	/* ESRCH: the program has just exited; its SIGCHLD is already queued. */
	if (kill(program, signo) && errno != ESRCH)
		log_error("kill");
}

static long grace_ms_from_env(void)
{
	const char *text = getenv("PM_HELPER_GRACE_MS");
	char *end;
	long value;

	if (!text || !*text)
		return DEFAULT_GRACE_MS;
	value = strtol(text, &end, 10);
	if (*end || value < 0 || value > 600000) {
		fprintf(stderr, "%s: PM_HELPER_GRACE_MS=%s is not a number of milliseconds (0-600000), using %d\n",
			prog_name, text, DEFAULT_GRACE_MS);
		return DEFAULT_GRACE_MS;
	}
	return value;
}

static long monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000L + now.tv_nsec / 1000000L;
}

/* As PID 1, the kernel would SIGKILL the rest of the namespace when we exit.
 * Give them TERM and a grace period first, as s6-overlay's stage 3 does, so
 * that an orphaned process can still flush what it was writing. */
static void sweep_namespace(const sigset_t *blocked)
{
	long deadline;

	if (getpid() != 1)
		return;
	if (kill(-1, SIGTERM)) {
		if (errno != ESRCH)
			log_error("kill(-1, SIGTERM)");
		return;
	}
	deadline = monotonic_ms() + grace_ms_from_env();
	for (;;) {
		int ignored;
		long left;
		struct timespec wait;

		if (reap_children(0, &ignored) & NO_CHILD_LEFT)
			return;
		left = deadline - monotonic_ms();
		if (left <= 0)
			break;
		wait.tv_sec = left / 1000;
		wait.tv_nsec = (left % 1000) * 1000000L;
		/* Woken by SIGCHLD as the survivors die, or by the deadline. */
		sigtimedwait(blocked, NULL, &wait);
	}
	if (kill(-1, SIGKILL) && errno != ESRCH)
		log_error("kill(-1, SIGKILL)");
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

static int supervise(pid_t program, const sigset_t *blocked)
{
	int program_status = 0;

	for (;;) {
		siginfo_t info;
		int signo = sigwaitinfo(blocked, &info);

		if (signo < 0) {
			if (errno == EINTR)
				continue;
			log_error("sigwaitinfo");
			return EXIT_HELPER_FAILED;
		}
		if (signo != SIGCHLD) {
			forward_signal(program, signo);
			continue;
		}
		if (reap_children(program, &program_status) & PROGRAM_REAPED)
			return status_to_exit_code(program_status);
	}
}

int main(int argc, char *argv[])
{
	sigset_t blocked, original;
	pid_t program;
	int exit_code;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM [ARG...]\n", prog_name);
		return EXIT_HELPER_FAILED;
	}

	/* Set up */
	if (block_signals(&blocked, &original))
		return EXIT_HELPER_FAILED;
	adopt_orphans_if_not_init();

	/* Go on */
	program = spawn_program(argv + 1, &original);
	if (program < 0)
		return EXIT_HELPER_FAILED;
	exit_code = supervise(program, &blocked);

	/* Clean up */
	sweep_namespace(&blocked);
	return exit_code;
}
