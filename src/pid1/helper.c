/*
 * pm-helper: process-manager's entry point and, in a container, its PID 1.
 *
 *   process-manager [ARG...]
 *
 * `process-manager install DIR` lays this helper down as DIR/process-manager
 * (the Pod's command) and the runtime, the single executable that holds the
 * manager, beside it as DIR/.process-manager-runtime. The helper runs that
 * runtime with its own arguments (argv[0] included, so ps shows the command
 * the Pod gave). PM_HELPER_RUNTIME names another runtime: the executable,
 * started as PID 1 without being installed, hands over to the helper that way.
 *
 * Not PID 1 (a local run, --help, ctl, shareProcessNamespace): the helper
 * execs the runtime in place; same pid, nothing of the helper stays.
 *
 * PID 1: every signal is blocked from the first statement of main, so none
 * sent after the container's command was exec'd is lost (the kernel drops a
 * signal that PID 1 leaves at its default action, but queues a blocked one).
 * The helper forks the runtime (the manager) in a process group of its own,
 * the terminal's foreground group if there is a terminal: a Ctrl-C then
 * reaches the manager once, from the terminal, instead of twice (from the
 * terminal to the whole group, and again forwarded by the helper). It holds
 * every signal until the manager reports that its listeners are in place (one
 * byte on the pipe whose write end is PM_READY_FD in its environment; EOF if
 * it dies first), then forwards the signals below and reaps every child with
 * waitpid(-1). When the manager exits, it sweeps whatever is left in the PID
 * namespace (TERM, a short grace, then KILL) and exits with its status. A
 * manager killed by a signal (the kernel's OOM killer, a crash) wrote no last
 * line of its own: the helper writes one before the sweep (manager-died).
 *
 * Forwarded to the manager: HUP INT QUIT USR2 ALRM TERM STKFLT CONT TSTP URG
 * XCPU VTALRM PROF WINCH IO PWR, the signals the manager has a listener for
 * (src/config/signals.ts, the same list). Not forwarded:
 *   CHLD               the helper's own (reaping);
 *   USR1               the runtime runs with --disable-sigusr1 and never takes
 *                      it, so that no signal can open the Node.js inspector
 *                      (it starts with USR1 blocked, and keeps it blocked);
 *   TTIN TTOU          job control; a background manager would stop on them;
 *   PIPE XFSZ          the runtime ignores them;
 *   real-time signals  their default action would kill the runtime, which
 *                      cannot listen to them;
 *   FPE ILL SEGV BUS ABRT TRAP SYS  never collected: they stay unblocked so
 *                      that a bug in the helper crashes it visibly.
 *
 * The helper only ever waits for orphans and for the manager: the supervised
 * process is the manager's child, so the manager's runtime is the only one
 * that can collect its exit status. That is the bug of the system this
 * replaces, which reaped inside the manager and stole the status.
 *
 * Exit status: the manager's exit code, or 128+signal when a signal killed it;
 * 126 when the runtime is not executable, 127 when it does not exist, 1 when
 * the helper itself cannot work (a failed system call).
 *
 * Environment:
 *   PM_HELPER_RUNTIME   the runtime to run (default: beside the helper)
 *   PM_HELPER_GRACE_MS  how long the sweep waits after TERM before KILL
 *                       (default 2000)
 * Set for the runtime: GLIBC_TUNABLES (one malloc arena, earlier trimming;
 * only when the pod sets none, PM_MANAGER_TUNABLES=1 then says it is ours),
 * and as PID 1, PM_UNDER_HELPER=1 and PM_READY_FD.
 *
 * No signal handlers at all: signals stay blocked and are taken synchronously
 * with sigwaitinfo/sigtimedwait, so async-signal safety never arises and an
 * idle helper sleeps in the kernel without any timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_GRACE_MS 2000
#define EXIT_HELPER_FAILED 1
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127
#define RUNTIME_FILE_NAME ".process-manager-runtime"
/* src/pid1/malloc-tuning.ts drops these from the supervised process's environment. */
#define MANAGER_TUNABLES "glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=65536"

extern char **environ;

static const int forwarded_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGUSR2, SIGALRM, SIGTERM, SIGSTKFLT, SIGCONT,
	SIGTSTP, SIGURG, SIGXCPU, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR,
};

/* "NAME=" and a non-negative number into buffer (at least 32 bytes). */
static char *name_number(char *buffer, const char *name, long value)
{
	char digits[24];
	size_t count = 0, length = strlen(name);

	do
		digits[count++] = (char)('0' + value % 10);
	while ((value /= 10) > 0 && count < sizeof(digits));
	memcpy(buffer, name, length);
	while (count > 0)
		buffer[length++] = digits[--count];
	buffer[length] = '\0';
	return buffer;
}

/* A log line: the message is cut to leave room for the fields after it. */
#define LINE_BYTES 1024
#define MESSAGE_LIMIT (LINE_BYTES - 256)

/* Appends text to line at length, as is, or escaped as the inside of a JSON
 * string; stops at limit. Returns the new length. */
static size_t append(char *line, size_t length, size_t limit, const char *text, int escape)
{
	static const char hex[] = "0123456789abcdef";

	for (; *text && length + 6 < limit; text++) {
		unsigned char c = (unsigned char)*text;

		if (escape && (c == '"' || c == '\\')) {
			line[length++] = '\\';
			line[length++] = (char)c;
		} else if (escape && c < 0x20) {
			memcpy(line + length, "\\u00", 4);
			line[length + 4] = hex[c >> 4];
			line[length + 5] = hex[c & 15];
			length += 6;
		} else {
			line[length++] = (char)c;
		}
	}
	return length;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" for now, into buffer (at least 25 bytes). The
 * date comes from the day count by the usual era arithmetic (400-year cycles
 * starting in March), since gmtime would bring in most of libc's time code. */
static void iso_timestamp(char *buffer)
{
	struct timespec now;
	long days, seconds_of_day, era, day_of_era, year_of_era, day_of_year, mp, year;
	unsigned month, day;
	long fields[7];
	static const int widths[7] = { 4, 2, 2, 2, 2, 2, 3 };
	static const char separators[7] = { '-', '-', 'T', ':', ':', '.', 'Z' };
	int i, w;
	char *out = buffer;

	if (clock_gettime(CLOCK_REALTIME, &now))
		now.tv_sec = now.tv_nsec = 0;
	days = (long)(now.tv_sec / 86400);
	seconds_of_day = (long)(now.tv_sec % 86400);
	days += 719468; /* from 1970-01-01 to 0000-03-01 */
	era = days / 146097;
	day_of_era = days - era * 146097;
	year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	mp = (5 * day_of_year + 2) / 153;
	day = (unsigned)(day_of_year - (153 * mp + 2) / 5 + 1);
	month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	year = year_of_era + era * 400 + (month <= 2);
	fields[0] = year;
	fields[1] = month;
	fields[2] = day;
	fields[3] = seconds_of_day / 3600;
	fields[4] = seconds_of_day / 60 % 60;
	fields[5] = seconds_of_day % 60;
	fields[6] = now.tv_nsec / 1000000;
	for (i = 0; i < 7; i++) {
		for (w = widths[i] - 1; w >= 0; w--) {
			out[w] = (char)('0' + fields[i] % 10);
			fields[i] /= 10;
		}
		out += widths[i];
		*out++ = separators[i];
	}
	*out = '\0';
}

/* Writes line to stdout without ever waiting for its reader: PID 1 stuck in
 * write(2) on a full pipe (a stalled log reader) would never sweep nor exit.
 * A pipe is opened again, non-blocking, for this one write (setting
 * O_NONBLOCK on descriptor 1 itself would change it for the manager and
 * Elasticsearch too, who share it); a full pipe loses the line. Anything
 * else (a file, a terminal) is written as it is. */
static void write_line(const char *line, size_t length)
{
	struct stat stdout_stat;
	int fd = STDOUT_FILENO;

	if (fstat(STDOUT_FILENO, &stdout_stat) == 0 && S_ISFIFO(stdout_stat.st_mode)) {
		/* ENXIO: no reader left; nobody would read the line. */
		fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return;
	}
	/* Nothing to do if stdout is gone or full. */
	if (write(fd, line, length) < 0) {
		/* fall through: the descriptor is closed below either way */
	}
	if (fd != STDOUT_FILENO)
		close(fd);
}

/* Writes the NULL-terminated parts as the message of one JSON log line on
 * stdout, in the shape of the manager's own lines (ECS field names), so that
 * every line the container's PID 1 and manager write parses: event.action
 * `action`, process.pid `pid`, then `fields` as they are (JSON members, each
 * starting with a comma; ours, so not escaped). No stdio: printf's code would
 * be most of the helper's size, and as PID 1 its whole file is resident. */
static void say_as(const char *action, long pid, const char *const parts[], const char *const fields[])
{
	char line[LINE_BYTES];
	char timestamp[32];
	char pid_text[24];
	size_t length = 0, i;

	iso_timestamp(timestamp);
	name_number(pid_text, "", pid);
	length = append(line, length, LINE_BYTES, "{\"@timestamp\":\"", 0);
	length = append(line, length, LINE_BYTES, timestamp, 0);
	length = append(line, length, LINE_BYTES, "\",\"log.level\":\"error\",\"message\":\"", 0);
	for (i = 0; parts[i]; i++)
		length = append(line, length, MESSAGE_LIMIT, parts[i], 1);
	length = append(line, length, LINE_BYTES, "\",\"ecs.version\":\"1.6.0\",\"service.name\":\"process-manager\",\"event.action\":\"", 0);
	length = append(line, length, LINE_BYTES, action, 0);
	length = append(line, length, LINE_BYTES, "\",\"process.pid\":", 0);
	length = append(line, length, LINE_BYTES, pid_text, 0);
	for (i = 0; fields[i]; i++)
		length = append(line, length, LINE_BYTES, fields[i], 0);
	length = append(line, length, LINE_BYTES, "}\n", 0);
	write_line(line, length);
}

/* A line about the helper itself. */
static void say(const char *const parts[])
{
	const char *const no_fields[] = { NULL };

	say_as("pid1-helper", (long)getpid(), parts, no_fields);
}

static void log_error(const char *what)
{
	const char *parts[] = { what, " failed: ", strerror(errno), NULL };

	say(parts);
}

/* The names the manager's own lines use (process.signal), for the signals
 * that can end a process; designated by macro, so right on every architecture. */
static const char *signal_name(int signo)
{
	static const char *const names[] = {
		[SIGHUP] = "SIGHUP", [SIGINT] = "SIGINT", [SIGQUIT] = "SIGQUIT", [SIGILL] = "SIGILL",
		[SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT", [SIGBUS] = "SIGBUS", [SIGFPE] = "SIGFPE",
		[SIGKILL] = "SIGKILL", [SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
		[SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM", [SIGSTKFLT] = "SIGSTKFLT",
		[SIGXCPU] = "SIGXCPU", [SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",
		[SIGIO] = "SIGIO", [SIGPWR] = "SIGPWR", [SIGSYS] = "SIGSYS",
	};

	if (signo > 0 && (size_t)signo < sizeof(names) / sizeof(names[0]) && names[signo])
		return names[signo];
	return NULL;
}

/* The manager died of a signal: it could not say so itself. Say how, before
 * the sweep takes Elasticsearch down with it. A manager that exited wrote its
 * own last line (manager-exit). */
static void report_manager_death(pid_t manager, int status, int exit_code)
{
	char number[24], code[24], signal_field[48];
	const char *name;

	if (!WIFSIGNALED(status))
		return;
	name = signal_name(WTERMSIG(status));
	name_number(number, "", WTERMSIG(status));
	name_number(code, "", exit_code);
	signal_field[0] = '\0';
	if (name) {
		size_t length = append(signal_field, 0, sizeof(signal_field), ",\"process.signal\":\"", 0);

		length = append(signal_field, length, sizeof(signal_field), name, 0);
		length = append(signal_field, length, sizeof(signal_field), "\"", 0);
		signal_field[length] = '\0';
	}
	{
		const char *const parts[] = {
			"the manager was killed by ", name ? name : "signal ", name ? " (signal " : "", number, name ? ")" : "",
			WTERMSIG(status) == SIGKILL ? ", which is what the kernel's out-of-memory killer sends" : "",
			"; ending what is left in the container, then exiting with ", code, NULL,
		};
		const char *const fields[] = { signal_field, ",\"process.exit_code\":null,\"event.reason\":\"signal\"", NULL };

		say_as("manager-died", (long)manager, parts, fields);
	}
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

	sigfillset(blocked);
	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(blocked, faults[i]);
	if (sigprocmask(SIG_SETMASK, blocked, original)) {
		log_error("sigprocmask");
		return 1;
	}
	return 0;
}

/* PM_HELPER_RUNTIME, or the runtime installed beside the helper. */
static int find_runtime(char *path, size_t size)
{
	const char *given = getenv("PM_HELPER_RUNTIME");
	ssize_t length;
	char *slash;

	if (given && *given) {
		if (strlen(given) >= size) {
			errno = ENAMETOOLONG;
			log_error("PM_HELPER_RUNTIME");
			return 1;
		}
		strcpy(path, given);
		return 0;
	}
	length = readlink("/proc/self/exe", path, size - sizeof(RUNTIME_FILE_NAME) - 1);
	if (length < 0) {
		log_error("readlink(/proc/self/exe)");
		return 1;
	}
	path[length] = '\0';
	slash = strrchr(path, '/');
	strcpy(slash ? slash + 1 : path, RUNTIME_FILE_NAME);
	return 0;
}

static int starts_with(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Execs the runtime with our environment, less PM_HELPER_RUNTIME and plus
 * `extra` (NAME=VALUE entries, NULL-terminated), and with the signal mask our
 * own parent gave us (not with everything blocked), plus SIGUSR1. The environment is built
 * on the stack: the helper never allocates, so as PID 1 it stays a few pages.
 * Returns the exit code for the failure. */
static int exec_runtime(const char *runtime, char *const argv[], const sigset_t *original, char *const extra[])
{
	size_t count = 0, used = 0, i;

	while (environ[count])
		count++;
	for (i = 0; extra[i]; i++)
		count++;
	{
		/* glibc reads its tunables once, at start: they go in the environment the runtime starts with. */
		int tune = getenv("GLIBC_TUNABLES") == NULL;
		char *env[count + 3];

		for (i = 0; environ[i]; i++)
			if (!starts_with(environ[i], "PM_HELPER_RUNTIME=") && !starts_with(environ[i], "PM_UNDER_HELPER=") &&
			    !starts_with(environ[i], "PM_READY_FD=") && !(tune && starts_with(environ[i], "PM_MANAGER_TUNABLES=")))
				env[used++] = environ[i];
		if (tune) {
			env[used++] = "GLIBC_TUNABLES=" MANAGER_TUNABLES;
			env[used++] = "PM_MANAGER_TUNABLES=1";
		}
		for (i = 0; extra[i]; i++)
			env[used++] = extra[i];
		env[used] = NULL;
		/* SIGUSR1 stays blocked: the runtime (--disable-sigusr1) keeps it
		 * so for good, and from here on no SIGUSR1 can end it before its
		 * own start-up has blocked it. */
		sigset_t mask = *original;

		sigaddset(&mask, SIGUSR1);
		if (sigprocmask(SIG_SETMASK, &mask, NULL)) {
			log_error("sigprocmask");
			return EXIT_HELPER_FAILED;
		}
		execve(runtime, argv, env);
	}
	{
		int error = errno;
		const char *parts[] = { "exec ", runtime, " failed: ", strerror(error), NULL };

		say(parts);
		errno = error;
	}
	return errno == ENOENT ? EXIT_NOT_FOUND : errno == EACCES ? EXIT_NOT_EXECUTABLE : EXIT_HELPER_FAILED;
}

/* Its own process group, in the terminal's foreground if there is one (done
 * here, not in the parent, so the terminal is handed over before the exec).
 * SIGTTOU, which tcsetpgrp from a background group raises, is still blocked. */
static void isolate_manager(void)
{
	if (setpgid(0, 0)) {
		log_error("setpgid");
		return;
	}
	/* ENOTTY, ENXIO: no terminal, which is the usual case in a Pod. */
	if (tcsetpgrp(STDIN_FILENO, getpgrp()) && errno != ENOTTY && errno != ENXIO)
		log_error("tcsetpgrp");
}

static pid_t spawn_manager(const char *runtime, char *const argv[], const sigset_t *original, int ready_fd)
{
	char ready_text[32];
	char *extra[] = { "PM_UNDER_HELPER=1", NULL, NULL };
	pid_t pid = fork();

	if (pid < 0) {
		log_error("fork");
		return -1;
	}
	if (pid > 0)
		return pid;

	isolate_manager();
	/* Only the manager's copy of the write end survives its exec. */
	if (ready_fd >= 0) {
		if (fcntl(ready_fd, F_SETFD, 0))
			log_error("fcntl(PM_READY_FD)");
		extra[1] = name_number(ready_text, "PM_READY_FD=", ready_fd);
	}
	_exit(exec_runtime(runtime, argv, original, extra));
}

/* Signals stay queued in the kernel meanwhile: blocked, they are neither
 * dropped nor delivered. */
static void wait_until_manager_ready(int ready_fd)
{
	char byte;

	if (ready_fd < 0)
		return;
	while (read(ready_fd, &byte, 1) < 0 && errno == EINTR)
		;
	close(ready_fd);
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

static int is_forwarded(int signo)
{
	size_t i;

	for (i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		if (forwarded_signals[i] == signo)
			return 1;
	return 0;
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
		const char *parts[] = { "PM_HELPER_GRACE_MS=", text, " is not a number of milliseconds (0-600000), using 2000", NULL };

		say(parts);
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

/* Returns when the program has ended, with its wait status in *status_ptr;
 * non-zero when the helper itself failed. */
static int supervise(pid_t program, const sigset_t *blocked, int *status_ptr)
{
	for (;;) {
		siginfo_t info;
		int signo = sigwaitinfo(blocked, &info);

		if (signo < 0) {
			if (errno == EINTR)
				continue;
			log_error("sigwaitinfo");
			return 1;
		}
		if (signo != SIGCHLD) {
			if (is_forwarded(signo))
				forward_signal(program, signo);
			continue;
		}
		if (reap_children(program, status_ptr) & PROGRAM_REAPED)
			return 0;
	}
}

int main(int argc, char *argv[])
{
	sigset_t blocked, original;
	/* Static: as PID 1 the helper's stack stays at its first pages. */
	static char runtime[PATH_MAX];
	int ready[2] = { -1, -1 };
	char *no_extra[] = { NULL };
	pid_t manager;
	int exit_code = EXIT_HELPER_FAILED, status = 0;

	/* Set up */
	if (block_signals(&blocked, &original))
		return EXIT_HELPER_FAILED;
	(void)argc;
	if (find_runtime(runtime, sizeof(runtime)))
		return EXIT_HELPER_FAILED;
	if (getpid() != 1)
		return exec_runtime(runtime, argv, &original, no_extra);

	/* Go on, as PID 1. Without the pipe the manager is only not waited for:
	 * still better than no PID 1 at all. */
	if (pipe2(ready, O_CLOEXEC)) {
		log_error("pipe2");
		ready[0] = ready[1] = -1;
	}
	manager = spawn_manager(runtime, argv, &original, ready[1]);
	if (manager < 0)
		return EXIT_HELPER_FAILED;
	if (ready[1] >= 0)
		close(ready[1]);
	wait_until_manager_ready(ready[0]);
	if (supervise(manager, &blocked, &status) == 0) {
		exit_code = status_to_exit_code(status);
		report_manager_death(manager, status, exit_code);
	}

	/* Clean up */
	sweep_namespace(&blocked);
	return exit_code;
}
