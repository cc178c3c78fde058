/*
 * bench_http.c — the daemon's HTTP ingest, POST /v1/events (goals G1-G3),
 * as ratios to raw limits measured in the same run.
 *
 * The system under test is the real `nurture serve --listen 127.0.0.1:0`
 * binary, started as a child process in a temporary folder with a config
 * that has an http section and one ingest token (a fresh database for each
 * part). It answers 202 only after the request's SQLite transaction has
 * committed. The client is this process: plain non-blocking sockets on
 * epoll, keep-alive, one request in flight per connection, requests
 * formatted in place, answers parsed by Content-Length; nothing of
 * libevent or libcurl on the client side, so the client costs little. It
 * prints its own CPU use, so a reader can see it was not the bottleneck.
 *
 * 1. Single-event POST rate (G1). CONNS connections each send one JSON
 *    event (~140 bytes, a page view by one of LEADS known leads, named by
 *    email) per request, closed loop. Raw limit: a bare evhttp server in a
 *    thread of this process that drains the body and answers 202 with the
 *    same headers and a body of the same size, doing nothing else, driven
 *    by the same client. The two sides run in alternating rounds so noise
 *    on this shared machine lands on both alike. The daemon's stored event
 *    count is checked against its 202s.
 * 2. Batch NDJSON ingest (G2). BATCH_CONNS connections post batches of
 *    BATCH events (Content-Type application/x-ndjson) until EVENTS events
 *    are stored. Raw limit: the same rows inserted into the event table of
 *    a fresh nurture database (real schema and pragmas, through the store
 *    API) with one prepared INSERT, one transaction per BATCH rows, and
 *    nothing else: no HTTP, no JSON, no lead lookup, no lead update. The
 *    rate is also printed per step of STEP events (a million when EVENTS
 *    is 2 M or more), to show whether it holds as the table grows.
 * 3. Event to first send intent (G3). A flow is deployed, trigger
 *    { event = "bench.signup" }, run = send("test", { n = event.n }) on the
 *    engine's built-in stand-in "test" channel. Events, each for a new
 *    lead, are posted open loop at half the single-event rate part 1
 *    measured (the goal's load); then, each on a fresh daemon, two
 *    diagnostics: if that load saturated the daemon, at half the rate it
 *    sustains with the flow (1 / its CPU per sign-up), and at a fifth of
 *    the goal's load (latency without saturation). When the aim fails at
 *    the goal's load but holds at a fifth of it, four more loads bisect
 *    between the two for the highest rate that meets it (the knee),
 *    printed as a share of part 1's rate. A read-only SQLite
 *    connection of this process polls the outbox (every POLL_US) for new
 *    rows and reads n back from the message: latency is from the moment
 *    the POST was due to be sent (so time queued behind busy connections
 *    counts) to the moment the poll first saw its outbox row committed (µs
 *    clock; resolution one poll tick). The POST's 202 is timed the same
 *    way, and the outbox row's created_at (the store's ms clock, stamped
 *    before the commit) minus the send's wall time is printed as a
 *    cross-check.
 *
 * The server side (the daemon, or the bare server's thread, and the raw
 * insert) is pinned to the first allowed CPU and the client to the second,
 * as the raw limits in performance.md were measured; BENCH_NO_PIN=1 leaves
 * both to the scheduler. The figures that matter are the ratios.
 *
 * usage: bench_http [EVENTS]   (part 2's event count; default 1 000 000,
 *                              also BENCH_HTTP_EVENTS; 10000000 shows 10 M)
 * environment: BENCH_HTTP_CONNS (32), BENCH_HTTP_SECONDS (per round of
 *   part 1, 2.5), BENCH_HTTP_BATCH_CONNS (4), BENCH_HTTP_RATE (part 3's
 *   events/s; default half of part 1's), BENCH_HTTP_LAT_SECONDS (per load, 4),
 *   BENCH_HTTP_POLL_US (part 3's poll tick, 100),
 *   BENCH_NURTURE (the nurture binary; default the one built beside this),
 *   BENCH_HTTP_KEEP=1 (keep the temporary folder), BENCH_HTTP_PARTS (which
 *   parts to run, "123"; part 3 alone runs at BENCH_HTTP_RATE or 2 000/s),
 *   BENCH_NO_PIN=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sqlite3.h>
#include "bench_clock.h"
#include "bench_server.h"
#include "store.h"

#ifndef NU_BENCH_NURTURE
#define NU_BENCH_NURTURE "nurture"
#endif

#define TOKEN "bench-ingest-0123456789abcdef"
#define LEADS 10000             /* parts 1 and 2: events come from this many leads */
#define BATCH 1000              /* part 2: events per POST, rows per raw transaction */
#define ROUNDS 2                /* part 1: alternating rounds per side */
#define WARMUP_S 0.3            /* part 1: per side, not counted */
#define MAX_CONNS 512
#define POLL_US 100             /* part 3: outbox poll and send tick (default) */
#define T0 1767225600000LL      /* 2026-01-01 00:00 UTC, in ms: part 2's event times */

static const char flow_src[] =
	"return {\n"
	"  name = \"bench_latency\",\n"
	"  trigger = { event = \"bench.signup\" },\n"
	"  run = function(lead, event)\n"
	"    send(\"test\", { n = event.n })\n"
	"  end,\n"
	"}\n";

/* ---- small things --------------------------------------------------------- */

static double wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static char tmp_root[64];
static pid_t children[8];
static int nchildren;

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	if (tmp_root[0] && !getenv("BENCH_HTTP_KEEP")) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", tmp_root);
	} else if (tmp_root[0]) {
		fprintf(stderr, "bench: kept %s\n", tmp_root);
	}
	exit(1);
}

static double env_num(const char *name, double dflt)
{
	const char *v = getenv(name);
	char *end;
	double x;

	if (!v || !*v)
		return dflt;
	x = strtod(v, &end);
	if (*end || x <= 0)
		die("%s must be a positive number, got '%s'", name, v);
	return x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* q-quantile of n sorted values. */
static double pct(const double *v, size_t n, double q)
{
	return n ? v[(size_t)(q * (double)(n - 1) + 0.5)] : 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f) != 0)
		die("cannot write %s", path);
}

/* The bodies. Part 1 and 2: a page view by lead (i % LEADS), named by
 * email (the first event of each lead creates it). Part 3: a sign-up, each
 * by a new lead. n is the event's number. */
static int page_view(char *buf, size_t len, long i)
{
	return snprintf(buf, len, "{\"type\":\"page.viewed\",\"email\":\"lead%05ld@company%ld.example.cn\","
			"\"props\":{\"url\":\"/pricing/enterprise\",\"utm_source\":\"newsletter\",\"n\":%ld}}",
			i % LEADS, i % LEADS % 997, i);
}

static int page_view_props(char *buf, size_t len, long i)
{
	return snprintf(buf, len, "{\"url\":\"/pricing/enterprise\",\"utm_source\":\"newsletter\",\"n\":%ld}", i);
}

static int signup(char *buf, size_t len, long i)
{
	return snprintf(buf, len, "{\"type\":\"bench.signup\",\"email\":\"signup%07ld@bench.example.cn\","
			"\"props\":{\"n\":%ld}}", i, i);
}

/* ---- the bare server: evhttp answering 202 with no work ---------------------- */

static void bare_serve(struct evhttp_request *req, void *arg)
{
	bench_server *b = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	unsigned long n = atomic_fetch_add_explicit(&b->requests, 1, memory_order_relaxed) + 1;

	evbuffer_drain(in, evbuffer_get_length(in));
	/* The daemon's headers and a body of the same size. */
	evhttp_add_header(hdr, "Content-Type", "application/json");
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
	evbuffer_add_printf(b->out, "{\"accepted\":1,\"duplicates\":0,\"rejected\":0,\"event_id\":%lu,"
			    "\"lead_id\":%lu}", n, n % LEADS + 1);
	evhttp_send_reply(req, 202, "Accepted", b->out);
}


/* ---- the daemon: `nurture serve` as a child process --------------------------- */

struct daemon {
	pid_t pid;
	int port;
	char dir[128], db[160], log[160];
};

static const char *nurture_bin(void)
{
	const char *b = getenv("BENCH_NURTURE");
	return b && *b ? b : NU_BENCH_NURTURE;
}

static void show_log(const char *path)
{
	char cmd[256];

	fprintf(stderr, "bench: the last lines of %s:\n", path);
	snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", path);
	if (system(cmd) != 0)
		fprintf(stderr, "  (cannot read it)\n");
}

/* fork + exec nurture with args in dir, output appended to log; the child
 * dies with this process and runs on cpu (-1: anywhere). */
static pid_t spawn(const char *dir, const char *log, int cpu, char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof set, &set);
		}
		if (fd < 0 || chdir(dir) != 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* A fresh folder root/name with a config, a database and, with flows, the
 * latency flow; then `nurture serve` on 127.0.0.1, port picked by the
 * kernel and read back from the log. */
static void daemon_start(struct daemon *d, const char *name, int flows, int cpu)
{
	char conf[256], path[256];
	char *bin = (char *)nurture_bin();
	int status;

	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "%s/%s", tmp_root, name);
	snprintf(d->db, sizeof d->db, "%s/nurture.db", d->dir);
	snprintf(d->log, sizeof d->log, "%s/daemon.log", d->dir);
	if (access(bin, X_OK) != 0)
		die("cannot run %s (build it, or set BENCH_NURTURE)", bin);
	if (mkdir(d->dir, 0755) != 0)
		die("mkdir %s: %s", d->dir, strerror(errno));
	snprintf(conf, sizeof conf, "%s/nurture.conf.lua", d->dir);
	write_file(conf, "return {\n"
		   "  database = \"nurture.db\",\n"
		   "  log_level = \"info\",\n"
		   "  http = {\n"
		   "    listen = \"127.0.0.1:0\",\n"
		   "    tokens = { { name = \"bench\", token = \"" TOKEN "\", scopes = { \"ingest\" } } },\n"
		   "  },\n"
		   "}\n");
	if (flows) {
		snprintf(path, sizeof path, "%s/flows", d->dir);
		if (mkdir(path, 0755) != 0)
			die("mkdir %s: %s", path, strerror(errno));
		snprintf(path, sizeof path, "%s/flows/bench_latency.lua", d->dir);
		write_file(path, flow_src);
	}
	char *init[] = { bin, "--config", "nurture.conf.lua", "init", NULL };
	pid_t pid = spawn(d->dir, d->log, -1, init);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		show_log(d->log);
		die("nurture init failed in %s", d->dir);
	}
	char *serve[] = { bin, "--config", "nurture.conf.lua", "serve", "--listen", "127.0.0.1:0",
			  flows ? "--flows" : NULL, "flows", NULL };
	d->pid = spawn(d->dir, d->log, cpu, serve);
	children[nchildren++] = d->pid;
	for (double t0 = now_s(); !d->port; usleep(5000)) {
		char line[512];
		FILE *f = fopen(d->log, "r");
		while (f && fgets(line, sizeof line, f)) {
			const char *p = strstr(line, "HTTP API on http://127.0.0.1:");
			if (p)
				d->port = atoi(p + 29);
		}
		if (f)
			fclose(f);
		if (d->port)
			break;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			show_log(d->log);
			die("nurture serve exited before it listened");
		}
		if (now_s() - t0 > 10) {
			show_log(d->log);
			die("nurture serve did not listen within 10 s");
		}
	}
}

static void daemon_stop(struct daemon *d)
{
	int status = 0;
	double t0 = now_s();

	kill(d->pid, SIGTERM);
	while (waitpid(d->pid, &status, WNOHANG) != d->pid) {
		if (now_s() - t0 > 20) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
			show_log(d->log);
			die("nurture serve did not stop within 20 s of SIGTERM");
		}
		usleep(2000);
	}
	for (int i = 0; i < nchildren; i++)
		if (children[i] == d->pid)
			children[i] = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		show_log(d->log);
		die("nurture serve ended badly (status %d)", status);
	}
}

/* Seconds the daemon (one thread) has run on a CPU so far and, in *waited,
 * has been runnable but waiting for one (another process had its CPU):
 * /proc/PID/schedstat, in ns. What is neither, it spent blocked (disk). */
static double daemon_sched(const struct daemon *d, double *waited)
{
	char path[64];
	unsigned long long run = 0, wait = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/schedstat", (int)d->pid);
	if (waited)
		*waited = 0;
	if (!(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		run = wait = 0;
	fclose(f);
	if (waited)
		*waited = (double)wait / 1e9;
	return (double)run / 1e9;
}

static double daemon_cpu(const struct daemon *d)
{
	return daemon_sched(d, NULL);
}

/* Samples of the daemon's scheduler state (R running or runnable, S
 * sleeping: idle in epoll_wait, D uninterruptible: waiting for the disk,
 * in practice the WAL checkpoint's fdatasync), taken at most every ms from
 * the client's loop through a kept-open /proc/PID/stat. */
struct states {
	int fd;
	double next;
	unsigned long r, s, d, other;
};

static void states_open(struct states *st, const struct daemon *d)
{
	char path[64];

	memset(st, 0, sizeof *st);
	snprintf(path, sizeof path, "/proc/%d/stat", (int)d->pid);
	st->fd = open(path, O_RDONLY);
}

static void states_sample(struct states *st)
{
	char buf[512], *p;
	ssize_t n;
	double t = now_s();

	if (st->fd < 0 || t < st->next)
		return;
	st->next = t + 1e-3;
	if ((n = pread(st->fd, buf, sizeof buf - 1, 0)) <= 0)
		return;
	buf[n] = '\0';
	if (!(p = strrchr(buf, ')')) || !p[1] || !p[2])
		return;
	switch (p[2]) {
	case 'R': st->r++; break;
	case 'S': st->s++; break;
	case 'D': st->d++; break;
	default: st->other++;
	}
}

static void states_print(struct states *st, const char *indent)
{
	double n = (double)(st->r + st->s + st->d + st->other);

	if (st->fd >= 0)
		close(st->fd);
	if (n > 0)
		printf("%sdaemon state, sampled each ms: running %.0f %%, waiting for the disk %.0f %%,"
		       " idle %.0f %%\n", indent, 100 * (double)st->r / n, 100 * (double)st->d / n,
		       100 * (double)(st->s + st->other) / n);
}

/* Bytes the daemon has written so far: through write calls (the WAL, the
 * checkpoints into the database, and the sockets) and, in *disk, what
 * reached the block layer (/proc/PID/io). */
static double daemon_written(const struct daemon *d, double *disk)
{
	char path[64], line[128];
	unsigned long long wchar = 0, wbytes = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/io", (int)d->pid);
	if (disk)
		*disk = 0;
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "wchar: %llu", &wchar);
		sscanf(line, "write_bytes: %llu", &wbytes);
	}
	fclose(f);
	if (disk)
		*disk = (double)wbytes;
	return (double)wchar;
}

/* wchar of this process (/proc/self/io). */
static double self_written(void)
{
	char line[128];
	unsigned long long wchar = 0;
	FILE *f = fopen("/proc/self/io", "r");

	while (f && fgets(line, sizeof line, f))
		sscanf(line, "wchar: %llu", &wchar);
	if (f)
		fclose(f);
	return (double)wchar;
}

static sqlite3 *open_ro(const char *path)
{
	sqlite3 *db;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("cannot open %s read-only: %s", path, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static long long count_rows(const char *path, const char *sql)
{
	sqlite3 *db = open_ro(path);
	sqlite3_stmt *st;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* ---- the client: keep-alive connections on epoll ------------------------------ */

struct client;

struct conn {
	int fd;
	int busy;                     /* a request is out, its answer not complete */
	int want_out;                 /* EPOLLOUT registered */
	char *out;
	size_t out_len, out_off, out_cap;
	char *in;
	size_t in_len, in_cap;
	long tag;                     /* the driver's: event number, batch size */
	double t0;                    /* when it was sent (or due to be) */
};

typedef void (*answer_fn)(struct client *cl, struct conn *c, int status, const char *body,
			  size_t len);

struct client {
	int ep, n, port;
	struct conn conns[MAX_CONNS];
	answer_fn on_answer;
	int busy;                     /* connections with a request out */
	char *scratch;                /* a body being formatted */
	size_t scratch_cap;
};

static void grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	if (!(*buf = realloc(*buf, n)))
		die("out of memory");
	*cap = n;
}

static void client_open(struct client *cl, int port, int n, answer_fn fn)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	memset(cl, 0, sizeof *cl);
	cl->n = n;
	cl->port = port;
	cl->on_answer = fn;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((cl->ep = epoll_create1(0)) < 0)
		die("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		struct conn *c = &cl->conns[i];
		int one = 1;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
			die("connect to 127.0.0.1:%d: %s", port, strerror(errno));
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			die("epoll_ctl: %s", strerror(errno));
	}
}

static void client_close(struct client *cl)
{
	for (int i = 0; i < cl->n; i++) {
		close(cl->conns[i].fd);
		free(cl->conns[i].out);
		free(cl->conns[i].in);
	}
	free(cl->scratch);
	close(cl->ep);
}

static void want_out(struct client *cl, struct conn *c, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

	if (c->want_out == on)
		return;
	c->want_out = on;
	if (epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void flush(struct client *cl, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0)
			die("send: %s", strerror(errno));
		c->out_off += (size_t)w;
	}
	want_out(cl, c, c->out_off < c->out_len);
}

/* POSTs body (len bytes) to /v1/events on c. */
static void post(struct client *cl, struct conn *c, const char *type, const char *body, size_t len)
{
	char head[256];
	int h = snprintf(head, sizeof head, "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Authorization: Bearer " TOKEN "\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\n\r\n", cl->port, type, len);

	if (c->busy)
		die("a request on a busy connection (bug)");
	grow(&c->out, &c->out_cap, (size_t)h + len);
	memcpy(c->out, head, (size_t)h);
	memcpy(c->out + h, body, len);
	c->out_len = (size_t)h + len;
	c->out_off = 0;
	c->busy = 1;
	cl->busy++;
	flush(cl, c);
}

/* Length of the answer at the head of c->in once it is complete, else 0. */
static size_t answer_complete(struct conn *c, int *status, size_t *body_at, size_t *body_len)
{
	char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	size_t clen = 0;

	if (!end)
		return 0;
	if (c->in_len < 12 || strncmp(c->in, "HTTP/1.1 ", 9))
		die("not an HTTP/1.1 answer: %.40s", c->in);
	*status = atoi(c->in + 9);
	for (char *l = memchr(c->in, '\n', (size_t)(end - c->in)); l && l < end;
	     l = memchr(l + 1, '\n', (size_t)(end - l))) {
		if (!strncasecmp(l + 1, "Content-Length:", 15))
			clen = strtoul(l + 16, NULL, 10);
	}
	*body_at = (size_t)(end - c->in) + 4;
	*body_len = clen;
	return c->in_len >= *body_at + clen ? *body_at + clen : 0;
}

static void on_readable(struct client *cl, struct conn *c)
{
	for (;;) {
		grow(&c->in, &c->in_cap, c->in_len + 4096);
		ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0)
			die("recv: %s", strerror(errno));
		if (r == 0)
			die("the server closed a connection");
		c->in_len += (size_t)r;
	}
	c->in[c->in_len] = '\0';
	int status;
	size_t at, len, total;
	while ((total = answer_complete(c, &status, &at, &len))) {
		char save = c->in[at + len];
		if (!c->busy)
			die("an answer to no request");
		c->busy = 0;
		cl->busy--;
		c->in[at + len] = '\0';
		cl->on_answer(cl, c, status, c->in + at, len);
		c->in[at + len] = save;
		memmove(c->in, c->in + total, c->in_len - total);
		c->in_len -= total;
		c->in[c->in_len] = '\0';
	}
}

/* One epoll_wait; returns the events that were not the client's (the
 * timer fd of part 3) through *other. */
static void client_step(struct client *cl, int timeout_ms, int *other)
{
	struct epoll_event ev[64];
	int n = epoll_wait(cl->ep, ev, 64, timeout_ms);

	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		struct conn *c = ev[i].data.ptr;
		if (!c) {
			if (other)
				(*other)++;
			continue;
		}
		if (ev[i].events & EPOLLOUT)
			flush(cl, c);
		if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			on_readable(cl, c);
	}
}

/* ---- part 1: single-event POST rate ------------------------------------------ */

struct single {
	struct client cl;
	long seq;                 /* next event number */
	double end;               /* no new request after this */
	unsigned long done, bad;
	double *lat;              /* seconds per request of the counted rounds */
	size_t nlat, cap;
	int counting;
};

static struct single *single_of(struct client *cl)
{
	return (struct single *)(void *)cl;   /* cl is the first member */
}

static void single_send(struct single *s, struct conn *c)
{
	char body[256];
	int len = page_view(body, sizeof body, s->seq);

	c->tag = s->seq++;
	c->t0 = now_s();
	post(&s->cl, c, "application/json", body, (size_t)len);
}

static void single_answer(struct client *cl, struct conn *c, int status, const char *body, size_t len)
{
	struct single *s = single_of(cl);
	double t = now_s();

	if (status != 202) {
		if (!s->bad++)
			fprintf(stderr, "bench: an answer %d: %.*s\n", status, (int)len, body);
	}
	if (s->counting) {
		if (s->nlat == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 65536;
			if (!(s->lat = realloc(s->lat, s->cap * sizeof *s->lat)))
				die("out of memory");
		}
		s->lat[s->nlat++] = t - c->t0;
		s->done++;
	}
	if (t < s->end)
		single_send(s, c);
}

struct side {
	double secs, client_cpu, server_cpu;
	unsigned long done;
};

/* Closed loop on every connection for secs; returns when all answered. */
static void single_round(struct single *s, double secs, int counting, struct side *r,
			 double (*server_cpu)(const void *), const void *server)
{
	double t0 = now_s(), c0 = cpu_s(), s0 = server_cpu(server);
	unsigned long before = s->done;

	s->counting = counting;
	s->end = t0 + secs;
	for (int i = 0; i < s->cl.n; i++)
		single_send(s, &s->cl.conns[i]);
	while (s->cl.busy)
		client_step(&s->cl, 1000, NULL);
	if (r) {
		r->secs += now_s() - t0;
		r->client_cpu += cpu_s() - c0;
		r->server_cpu += server_cpu(server) - s0;
		r->done += s->done - before;
	}
}

static double bare_cpu_v(const void *b) { return bench_server_cpu(b); }
static double daemon_cpu_v(const void *d) { return daemon_cpu(d); }

static void single_report(const char *name, const char *unit, struct single *s, const struct side *r)
{
	qsort(s->lat, s->nlat, sizeof *s->lat, cmp_double);
	printf("  %-30s %6.2f s %8.0f %s  %5.1f us server CPU each  latency p50 %5.0f us p99 %6.0f us"
	       "  client CPU %3.0f %%\n", name, r->secs, (double)r->done / r->secs, unit,
	       r->server_cpu / (double)r->done * 1e6, pct(s->lat, s->nlat, 0.5) * 1e6,
	       pct(s->lat, s->nlat, 0.99) * 1e6, 100 * r->client_cpu / r->secs);
}

/* Returns the daemon's events/s. */
static double part1(bench_server *bare, int conns, double secs, int server_cpu)
{
	struct single raw = { 0 }, ours = { 0 };
	struct side rr = { 0 }, os = { 0 };
	struct daemon d;
	long long stored;

	daemon_start(&d, "single", 0, server_cpu);
	printf("1. single-event POST rate: one JSON event (~140 B) per request, %d keep-alive"
	       " connections,\n   closed loop, %d alternating rounds of %.1f s per side\n", conns,
	       ROUNDS, secs);
	client_open(&raw.cl, bare->port, conns, single_answer);
	client_open(&ours.cl, d.port, conns, single_answer);
	single_round(&raw, WARMUP_S, 0, NULL, bare_cpu_v, bare);
	single_round(&ours, WARMUP_S, 0, NULL, daemon_cpu_v, &d);
	for (int i = 0; i < ROUNDS; i++)
		for (int side = 0; side < 2; side++) {
			if ((side ^ i) & 1)
				single_round(&ours, secs, 1, &os, daemon_cpu_v, &d);
			else
				single_round(&raw, secs, 1, &rr, bare_cpu_v, bare);
		}
	client_close(&raw.cl);
	client_close(&ours.cl);
	if (raw.bad || ours.bad)
		die("%lu answers from the bare server and %lu from nurture were not 202", raw.bad, ours.bad);
	stored = count_rows(d.db, "SELECT count(*) FROM event");
	double disk, wrote = daemon_written(&d, &disk);
	daemon_stop(&d);
	if (stored != ours.seq)
		die("nurture answered 202 to %ld events but stored %lld", ours.seq, stored);
	single_report("raw evhttp 202, no work", "req/s   ", &raw, &rr);
	single_report("nurture serve POST /v1/events", "events/s", &ours, &os);
	printf("  %-30s %6.2f   (aim >= 0.5)\n", "ratio nurture/raw",
	       ((double)os.done / os.secs) / ((double)rr.done / rr.secs));
	printf("  %-30s %6.2f   (server CPU per request; less exposed to noise)\n",
	       "ratio of server CPU raw/nurture",
	       (rr.server_cpu / (double)rr.done) / (os.server_cpu / (double)os.done));
	printf("  %-30s %.1f us of daemon CPU per event beyond bare evhttp; %.1f KB written per event"
	       " (%.1f KB reached the disk)\n", "nurture cost",
	       (os.server_cpu / (double)os.done - rr.server_cpu / (double)rr.done) * 1e6,
	       wrote / (double)stored / 1024, disk / (double)stored / 1024);
	printf("  %-30s %lld events stored = 202s answered\n", "check", stored);
	free(raw.lat);
	free(ours.lat);
	return (double)os.done / os.secs;
}

/* ---- part 2: batch NDJSON ingest ---------------------------------------------- */

struct batch {
	struct client cl;
	long total, sent, stored;   /* events */
	long step;                  /* events per progress step */
	double *step_at;            /* time each step was reached */
	int nsteps;
	unsigned long bad;
};

static void batch_send(struct batch *b, struct conn *c)
{
	long n = b->total - b->sent < BATCH ? b->total - b->sent : BATCH;
	size_t len = 0;

	grow(&b->cl.scratch, &b->cl.scratch_cap, (size_t)n * 256);
	for (long i = 0; i < n; i++) {
		len += (size_t)page_view(b->cl.scratch + len, 255, b->sent + i);
		b->cl.scratch[len++] = '\n';
	}
	c->tag = n;
	b->sent += n;
	post(&b->cl, c, "application/x-ndjson", b->cl.scratch, len);
}

static void batch_answer(struct client *cl, struct conn *c, int status, const char *body, size_t len)
{
	struct batch *b = (struct batch *)(void *)cl;
	const char *acc = strstr(body, "\"accepted\":");
	long accepted = acc ? atol(acc + 11) : -1;

	if (status != 202 || accepted != c->tag) {
		if (!b->bad++)
			fprintf(stderr, "bench: a batch of %ld answered %d: %.*s\n", c->tag, status,
				len > 300 ? 300 : (int)len, body);
	}
	long before = b->stored;
	b->stored += c->tag;
	if (b->stored / b->step > before / b->step)
		for (long k = before / b->step + 1; k <= b->stored / b->step && k <= b->nsteps; k++)
			b->step_at[k] = now_s();
	if (b->sent < b->total)
		batch_send(b, c);
}

/* Raw: the same rows into the event table of a fresh database, one
 * prepared INSERT, one transaction per BATCH rows. */
static double raw_insert(const char *path, long n, long step, double *step_at)
{
	nu_store *s;
	nu_error err;
	sqlite3 *db;
	sqlite3_stmt *ins;
	char props[160];
	double t0;

	if (nu_store_open(path, NULL, &s, &err) != NU_OK)
		die("%s", err.msg);
	db = nu_store_db(s);
	if (sqlite3_prepare_v2(db, "INSERT INTO event (lead_id, prev_id, type, at, props, source,"
			       " dedupe_key) VALUES (?, ?, 'page.viewed', ?, ?, 'api', NULL)", -1, &ins,
			       NULL) != SQLITE_OK)
		die("raw: %s", sqlite3_errmsg(db));
	t0 = now_s();
	step_at[0] = t0;
	for (long at = 0; at < n; at += BATCH) {
		long end = at + BATCH < n ? at + BATCH : n;
		if (sqlite3_exec(db, "BEGIN", 0, 0, 0) != SQLITE_OK)
			die("raw: %s", sqlite3_errmsg(db));
		for (long i = at; i < end; i++) {
			int len = page_view_props(props, sizeof props, i);
			sqlite3_bind_int64(ins, 1, i % LEADS + 1);
			if (i >= LEADS)
				sqlite3_bind_int64(ins, 2, i - LEADS + 1);   /* the lead's previous event */
			else
				sqlite3_bind_null(ins, 2);
			sqlite3_bind_int64(ins, 3, T0 + i);
			sqlite3_bind_text(ins, 4, props, len, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE)
				die("raw: %s", sqlite3_errmsg(db));
			sqlite3_reset(ins);
		}
		if (sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK)
			die("raw: %s", sqlite3_errmsg(db));
		if (end % step == 0 || end == n)
			step_at[(end + step - 1) / step] = now_s();
	}
	double secs = now_s() - t0;
	sqlite3_finalize(ins);
	nu_store_close(s);
	return secs;
}

static void fmt_count(char *buf, size_t len, long n)
{
	if (n % 1000000 == 0)
		snprintf(buf, len, "%ld M", n / 1000000);
	else if (n >= 1000000)
		snprintf(buf, len, "%.2f M", (double)n / 1e6);
	else
		snprintf(buf, len, "%ld k", n / 1000);
}

static void part2(long total, int conns, int server_cpu, int client_cpu)
{
	long step = total >= 2000000 ? 1000000 : (total / 4 / BATCH) * BATCH;
	int nsteps;
	struct batch b = { 0 };
	struct daemon d;
	double raw_secs, ours_secs, c0, dc0, t0;
	double *raw_at;
	char raw_path[128];
	long long stored;

	if (step < BATCH)
		step = BATCH;
	nsteps = (int)((total + step - 1) / step);
	if (!(raw_at = calloc((size_t)nsteps + 2, sizeof *raw_at)) ||
	    !(b.step_at = calloc((size_t)nsteps + 2, sizeof *b.step_at)))
		die("out of memory");
	printf("2. batch ingest: %ld events, %d per POST as NDJSON, %d connections; from %d leads\n",
	       total, BATCH, conns, LEADS);

	/* The raw insert runs where the daemon will run. */
	bench_pin(pthread_self(), server_cpu);
	snprintf(raw_path, sizeof raw_path, "%s/raw.db", tmp_root);
	double raw_wrote = -self_written();
	raw_secs = raw_insert(raw_path, total, step, raw_at);
	raw_wrote += self_written();
	bench_pin(pthread_self(), client_cpu);
	unlink(raw_path);

	daemon_start(&d, "batch", 0, server_cpu);
	b.total = total;
	b.step = step;
	b.nsteps = nsteps;
	client_open(&b.cl, d.port, conns, batch_answer);
	t0 = now_s();
	c0 = cpu_s();
	dc0 = daemon_cpu(&d);
	b.step_at[0] = t0;
	for (int i = 0; i < conns && b.sent < total; i++)
		batch_send(&b, &b.cl.conns[i]);
	struct states sst;
	states_open(&sst, &d);
	while (b.cl.busy) {
		client_step(&b.cl, 1, NULL);
		states_sample(&sst);
	}
	ours_secs = now_s() - t0;
	double client = cpu_s() - c0, server = daemon_cpu(&d) - dc0;
	b.step_at[nsteps] = b.step_at[nsteps] ? b.step_at[nsteps] : now_s();
	client_close(&b.cl);
	if (b.bad)
		die("%lu batches were not fully accepted", b.bad);
	stored = count_rows(d.db, "SELECT count(*) FROM event");
	struct stat st;
	double mb = stat(d.db, &st) == 0 ? (double)st.st_size / 1048576.0 : 0;
	double disk, wrote = daemon_written(&d, &disk);
	daemon_stop(&d);
	if (stored != total)
		die("nurture accepted %ld events but stored %lld", total, stored);

	printf("  %-36s %7.2f s %9.0f rows/s    %5.2f KB written/row\n", "raw batched insert, event table",
	       raw_secs, (double)total / raw_secs, raw_wrote / (double)total / 1024);
	printf("  %-36s %7.2f s %9.0f events/s  %5.2f KB written/event (%.2f KB reached the disk)\n"
	       "  %-36s %5.1f us daemon CPU/event, client CPU %.0f %%\n",
	       "nurture serve POST /v1/events NDJSON", ours_secs, (double)total / ours_secs,
	       wrote / (double)total / 1024, disk / (double)total / 1024, "",
	       server / (double)total * 1e6, 100 * client / ours_secs);
	printf("  %-36s %7.2f     (aim >= 0.5)\n", "ratio nurture/raw", raw_secs / ours_secs);
	printf("  %-36s %7.0f events/s  (aim >= 100 000); %lld stored, %.0f MB on disk\n",
	       "nurture batch ingest rate", (double)total / ours_secs, stored, mb);
	states_print(&sst, "  ");
	for (int k = 1; k <= nsteps; k++) {
		char from[24], to[24];
		long lo = (long)(k - 1) * step, hi = k == nsteps ? total : (long)k * step;
		fmt_count(from, sizeof from, lo);
		fmt_count(to, sizeof to, hi);
		double rs = raw_at[k] - raw_at[k - 1], os = b.step_at[k] - b.step_at[k - 1];
		printf("    events %8s to %-8s raw %9.0f rows/s   nurture %9.0f events/s   ratio %.2f\n",
		       from, to, (double)(hi - lo) / rs, (double)(hi - lo) / os, rs / os);
	}
	free(raw_at);
	free(b.step_at);
}

/* ---- part 3: event to first send intent ---------------------------------------- */

struct lat {
	struct client cl;
	long n, sent, answered, seen;
	double mono0, wall0;         /* the same instant on both clocks */
	double rate;
	double *due, *answer_at, *seen_at, *created_ms;
	unsigned long bad, late;     /* not 202; sent over 1 ms after due */
	struct conn *free_list[MAX_CONNS];
	int nfree;
	sqlite3 *db;
	sqlite3_stmt *poll;
	sqlite3_int64 last_op;
};

static void lat_answer(struct client *cl, struct conn *c, int status, const char *body, size_t len)
{
	struct lat *l = (struct lat *)(void *)cl;

	if (status != 202 && !l->bad++)
		fprintf(stderr, "bench: an answer %d: %.*s\n", status, (int)len, body);
	l->answer_at[c->tag] = now_s();
	l->answered++;
	l->free_list[l->nfree++] = c;
}

/* Sends every event now due, as connections allow. */
static void lat_send_due(struct lat *l, double t)
{
	char body[160];

	while (l->sent < l->n && l->nfree && l->due[l->sent] <= t) {
		struct conn *c = l->free_list[--l->nfree];
		long i = l->sent++;
		int len = signup(body, sizeof body, i);
		if (t - l->due[i] > 1e-3)
			l->late++;
		c->tag = i;
		c->t0 = l->due[i];
		post(&l->cl, c, "application/json", body, (size_t)len);
	}
}

/* Reads the outbox rows committed since the last poll. */
static void lat_poll(struct lat *l)
{
	int rc;
	double t;

	sqlite3_bind_int64(l->poll, 1, l->last_op);
	while ((rc = sqlite3_step(l->poll)) == SQLITE_ROW) {
		const char *msg = (const char *)sqlite3_column_text(l->poll, 1);
		const char *p = msg ? strstr(msg, "\"n\":") : NULL;
		long i = p ? atol(p + 4) : -1;
		t = now_s();
		l->last_op = sqlite3_column_int64(l->poll, 0);
		if (i < 0 || i >= l->n || l->seen_at[i])
			die("an outbox row the bench did not expect: %s", msg ? msg : "(null)");
		l->seen_at[i] = t;
		l->created_ms[i] = (double)sqlite3_column_int64(l->poll, 2);
		l->seen++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_BUSY)
		die("polling the outbox: %s", sqlite3_errmsg(l->db));
	sqlite3_reset(l->poll);
}

static void lat_report(const char *name, double *v, size_t n, const char *unit, double scale)
{
	qsort(v, n, sizeof *v, cmp_double);
	printf("    %-44s p50 %7.2f %s  p99 %7.2f %s  max %7.2f %s\n", name, pct(v, n, 0.5) * scale, unit,
	       pct(v, n, 0.99) * scale, unit, n ? v[n - 1] * scale : 0, unit);
}

/* One load: a fresh daemon with the flow, n = rate * secs sign-ups.
 * Returns the daemon's CPU seconds per sign-up; *busy its CPU share, *p99
 * the p99 in seconds from POST to outbox row seen. */
static double part3_load(const char *label, double rate, double secs, int conns, int server_cpu,
			 long poll_us, double *busy, double *p99)
{
	struct lat l = { 0 };
	struct daemon d;
	int tfd, ticks = 0;
	double *v;
	struct itimerspec its = { .it_interval = { 0, poll_us * 1000 }, .it_value = { 0, poll_us * 1000 } };

	l.rate = rate;
	l.n = (long)(rate * secs);
	if (l.n < 1)
		l.n = 1;
	if (!(l.due = calloc((size_t)l.n, sizeof *l.due)) ||
	    !(l.answer_at = calloc((size_t)l.n, sizeof *l.answer_at)) ||
	    !(l.seen_at = calloc((size_t)l.n, sizeof *l.seen_at)) ||
	    !(l.created_ms = calloc((size_t)l.n, sizeof *l.created_ms)) ||
	    !(v = calloc((size_t)l.n, sizeof *v)))
		die("out of memory");
	printf("  %s: %ld sign-ups at %.0f events/s\n", label, l.n, rate);
	static int loads;
	char name[32];
	snprintf(name, sizeof name, "latency-%d", ++loads);
	daemon_start(&d, name, 1, server_cpu);
	client_open(&l.cl, d.port, conns, lat_answer);
	for (int i = 0; i < conns; i++)
		l.free_list[l.nfree++] = &l.cl.conns[i];
	l.db = open_ro(d.db);
	if (sqlite3_prepare_v2(l.db, "SELECT op_id, message, created_at FROM outbox WHERE op_id > ?"
			       " ORDER BY op_id", -1, &l.poll, NULL) != SQLITE_OK)
		die("poll: %s", sqlite3_errmsg(l.db));
	if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) < 0)
		die("timerfd_create: %s", strerror(errno));
	struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(l.cl.ep, EPOLL_CTL_ADD, tfd, &tev) != 0)
		die("epoll_ctl: %s", strerror(errno));

	struct states sst;
	states_open(&sst, &d);
	double dw0, dc0 = daemon_sched(&d, &dw0);
	l.mono0 = now_s() + 0.01;
	l.wall0 = wall_ms() + 10;
	for (long i = 0; i < l.n; i++)
		l.due[i] = l.mono0 + (double)i / rate;
	timerfd_settime(tfd, 0, &its, NULL);
	/* An overloaded daemon gets 20 s after the last due send to catch up;
	 * what has not arrived by then counts as infinitely late. */
	double give_up = l.due[l.n - 1] + 20;
	while (l.seen < l.n || l.answered < l.sent || l.sent < l.n) {
		double t = now_s();
		if (t > give_up)
			break;
		client_step(&l.cl, 100, &ticks);
		if (ticks) {
			uint64_t x;
			ticks = 0;
			if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN)
				die("timerfd: %s", strerror(errno));
		}
		t = now_s();
		lat_send_due(&l, t);
		if (l.seen < l.sent)
			lat_poll(&l);
		if (l.sent < l.n)
			states_sample(&sst);
	}
	double dw1, span = now_s() - l.mono0, dcpu = daemon_sched(&d, &dw1) - dc0, dwait = dw1 - dw0;
	close(tfd);
	client_close(&l.cl);
	sqlite3_finalize(l.poll);
	sqlite3_close(l.db);
	long long runs = count_rows(d.db, "SELECT count(*) FROM run WHERE status = 'completed'");
	double disk, wrote = daemon_written(&d, &disk);
	daemon_stop(&d);
	if (l.bad)
		die("%lu answers were not 202", l.bad);

	size_t k = 0;
	for (long i = 0; i < l.n; i++)
		v[k++] = l.answer_at[i] ? l.answer_at[i] - l.due[i] : INFINITY;
	lat_report("POST -> 202 (committed)", v, k, "ms", 1e3);
	k = 0;
	for (long i = 0; i < l.n; i++)
		v[k++] = l.seen_at[i] ? l.seen_at[i] - l.due[i] : INFINITY;
	lat_report("POST -> outbox row seen (polled, us clock)", v, k, "ms", 1e3);
	*p99 = pct(v, k, 0.99);     /* v is sorted now */
	k = 0;
	for (long i = 0; i < l.n; i++)
		v[k++] = l.seen_at[i] ? l.created_ms[i] - (l.wall0 + (l.due[i] - l.mono0) * 1e3) : INFINITY;
	lat_report("POST -> outbox created_at (store ms clock)", v, k, "ms", 1);
	printf("    %-44s %lu sends over 1 ms late (all connections busy); %lld runs completed;"
	       " %ld of %ld outbox rows seen\n", "", l.late, runs, l.seen, l.n);
	printf("    %-44s daemon on CPU %.0f %%, runnable but waiting for its CPU %.0f %%, off CPU %.0f %%"
	       " of %.1f s\n", "", 100 * dcpu / span, 100 * dwait / span,
	       100 * (span - dcpu - dwait) / span, span);
	states_print(&sst, "                                                 ");
	printf("    %-44s %.1f us daemon CPU, %.1f KB written (%.1f KB reached the disk) per event\n", "",
	       dcpu / (double)l.n * 1e6, wrote / (double)l.n / 1024, disk / (double)l.n / 1024);
	free(l.due);
	free(l.answer_at);
	free(l.seen_at);
	free(l.created_ms);
	free(v);
	*busy = dcpu / span;
	return dcpu / (double)l.n;
}

#define AIM_P99_S 0.010

/* Where the aim stops holding: bisects between a rate that met it and one
 * that did not, four fresh daemons, and prints the highest rate seen to
 * meet it as a share of the single-event rate (a figure to move, where the
 * goal's load only says met or not). */
static void part3_knee(double good, double bad, double single_rate, double secs, int conns,
		       int server_cpu, long poll_us)
{
	double busy, p99;

	for (int i = 0; i < 4; i++) {
		double mid = (good + bad) / 2;
		char label[80];
		snprintf(label, sizeof label, "knee search %d of 4", i + 1);
		part3_load(label, mid, secs, conns, server_cpu, poll_us, &busy, &p99);
		if (p99 <= AIM_P99_S)
			good = mid;
		else
			bad = mid;
	}
	printf("  %-46s p99 <= 10 ms holds up to about %.0f sign-ups/s", "knee", good);
	if (single_rate > 0)
		printf(" = %.2f of the single-event rate", good / single_rate);
	printf(" (not at %.0f)\n", bad);
}

static void part3(double single_rate, double secs, int conns, int server_cpu)
{
	long poll_us = (long)env_num("BENCH_HTTP_POLL_US", POLL_US);
	double rate = env_num("BENCH_HTTP_RATE", single_rate > 0 ? single_rate / 2 : 2000);

	printf("3. event to first send intent: flow trigger { event = \"bench.signup\" } -> send(\"test\"),"
	       "\n   each event a new lead, open loop, %d connections; latency from when the POST was"
	       " due;\n   outbox polled read-only every %ld us; %.1f s per load\n", conns, poll_us, secs);
	double busy, p99, per = part3_load("at half the single-event rate (the goal's load)", rate, secs,
					   conns, server_cpu, poll_us, &busy, &p99);
	double goal_p99 = p99;
	/* Saturated, the daemon's CPU per sign-up says what it sustains with
	 * this flow: the load at half of that shows latency with headroom. */
	if (busy > 0.85 && per > 0) {
		double sustained = 1 / per;
		printf("  %-46s with this flow the daemon sustains about %.0f sign-ups/s (1 / CPU per sign-up)\n",
		       "", sustained);
		part3_load("diagnostic, at half of what it sustains", sustained / 2, secs, conns, server_cpu,
			   poll_us, &busy, &p99);
	}
	part3_load("diagnostic, at a fifth of the goal's load", rate / 5, secs, conns, server_cpu, poll_us,
		   &busy, &p99);
	if (goal_p99 > AIM_P99_S && p99 <= AIM_P99_S)
		part3_knee(rate / 5, rate, single_rate, secs, conns, server_cpu, poll_us);
	printf("  %-46s (aim: p99 <= 10 ms for the outbox row at the goal's load)\n", "");
}

/* ---- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *ev = argc > 1 ? argv[1] : getenv("BENCH_HTTP_EVENTS");
	long events = ev && atol(ev) > 0 ? atol(ev) : 1000000;
	int conns = (int)env_num("BENCH_HTTP_CONNS", 32);
	int batch_conns = (int)env_num("BENCH_HTTP_BATCH_CONNS", 4);
	double secs = env_num("BENCH_HTTP_SECONDS", 2.5);
	double lat_secs = env_num("BENCH_HTTP_LAT_SECONDS", 4);
	const char *parts = getenv("BENCH_HTTP_PARTS") ? getenv("BENCH_HTTP_PARTS") : "123";
	int server_cpu, client_cpu;
	char where[80];
	bench_server bare;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (conns > MAX_CONNS || batch_conns > MAX_CONNS)
		die("at most %d connections", MAX_CONNS);
	snprintf(tmp_root, sizeof tmp_root, "/tmp/nurture-bench-http-XXXXXX");
	if (!mkdtemp(tmp_root)) {
		tmp_root[0] = '\0';
		die("mkdtemp: %s", strerror(errno));
	}
	bench_pick_cpus(&server_cpu, &client_cpu);
	if (client_cpu >= 0 && !getenv("BENCH_NO_PIN")) {
		bench_pin(pthread_self(), client_cpu);
		snprintf(where, sizeof where, "server on CPU %d, client on CPU %d", server_cpu, client_cpu);
	} else {
		snprintf(where, sizeof where, "unpinned (%s)",
			 client_cpu >= 0 ? "BENCH_NO_PIN" : "fewer than 2 CPUs");
		server_cpu = client_cpu = -1;
	}
	printf("bench_http: nurture serve (%s) on 127.0.0.1; %s\n", nurture_bin(), where);
	bench_server_start(&bare, "bare server", server_cpu, 20 << 20, bare_serve);

	double single_rate = 0;
	if (strchr(parts, '1'))
		single_rate = part1(&bare, conns, secs, server_cpu);
	bench_server_stop(&bare);
	if (strchr(parts, '2'))
		part2(events, batch_conns, server_cpu, client_cpu);
	if (strchr(parts, '3'))
		part3(single_rate, lat_secs, conns, server_cpu);

	if (getenv("BENCH_HTTP_KEEP")) {
		printf("  (kept %s)\n", tmp_root);
		return 0;
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
	return system(cmd) == 0 ? 0 : 1;
}
