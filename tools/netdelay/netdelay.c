/*
 * netdelay.c: tug-netdelay, the packet delayer behind `tug chaos netem --delay` on kernels
 * without the netem qdisc (CONFIG_NET_SCH_NETEM unset). An iptables rule hands what leaves a
 * node's eth0 (where it reaches the host's bridge) to NFQUEUE queue N; this program, run in the
 * rule's network namespace, gives each packet its NF_ACCEPT verdict DELAY ms after it arrived
 * here, give or take a uniform JITTER in [-JITTER, +JITTER] ms (never less than 0). Only the
 * packet's metadata crosses to this process; the packet waits in the kernel.
 *
 *   tug-netdelay --queue N --delay MS [--jitter MS] [--label TEXT]
 *
 * --label is not read: tug passes the node's directory there, so that the cluster's processes,
 * found by their command lines, include this one.
 *
 * Verdicts go out in due order, ties in arrival order: with no jitter, in arrival order. At most
 * QUEUE_MAXLEN packets wait at once; with fail-open, the kernel passes the ones beyond that (and
 * any it cannot deliver because this socket's buffer is full) undelayed instead of dropping them.
 * A full buffer shows here as ENOBUFS: it is counted and the buffer doubled. On SIGTERM or
 * SIGINT every waiting packet gets its verdict at once, a summary line is printed, exit 0.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define QUEUE_MAXLEN 8192
#define RCVBUF_START (4 << 20)
#define RCVBUF_MAX (64 << 20)
#define RECV_BATCH 64 /* messages read before due verdicts are released again */

struct held {
  int64_t due_ns;
  uint64_t seq;
  uint32_t id;
};

/* A binary min-heap on (due_ns, seq): the next verdict due is heap[0]. */
static struct held heap[QUEUE_MAXLEN];
static size_t held_n;
static uint64_t seq, delayed, overruns, verdict_errors;
static int64_t delay_ns, jitter_ns;
static int rcvbuf = RCVBUF_START;
static volatile sig_atomic_t stopping;

static void die(const char *what) {
  fprintf(stderr, "tug-netdelay: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int earlier(const struct held *a, const struct held *b) {
  return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void push(struct held h) {
  size_t i = held_n++;
  for (; i > 0 && earlier(&h, &heap[(i - 1) / 2]); i = (i - 1) / 2) heap[i] = heap[(i - 1) / 2];
  heap[i] = h;
}

static struct held pop(void) {
  struct held top = heap[0], last = heap[--held_n];
  size_t i = 0;
  for (size_t c; (c = 2 * i + 1) < held_n; i = c) {
    if (c + 1 < held_n && earlier(&heap[c + 1], &heap[c])) c++;
    if (!earlier(&heap[c], &last)) break;
    heap[i] = heap[c];
  }
  heap[i] = last;
  return top;
}

static void release(struct nfq_q_handle *qh, uint32_t id) {
  if (nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL) < 0) verdict_errors++;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)msg, (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == NULL) return 0;
  uint32_t id = ntohl(ph->packet_id);
  /* The kernel holds at most QUEUE_MAXLEN packets for this queue, so this is a bound, not a path. */
  if (held_n == QUEUE_MAXLEN) {
    release(qh, id);
    return 0;
  }
  int64_t wait = delay_ns + (jitter_ns > 0 ? (int64_t)((drand48() * 2 - 1) * (double)jitter_ns) : 0);
  push((struct held){now_ns() + (wait > 0 ? wait : 0), seq++, id});
  delayed++;
  return 0;
}

static void set_rcvbuf(int fd, int bytes) {
  /* SO_RCVBUFFORCE (root) passes net.core.rmem_max by; SO_RCVBUF is capped by it. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

static void receive(struct nfq_handle *h, int fd) {
  static char buf[65536];
  for (int i = 0; i < RECV_BATCH; i++) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n >= 0) {
      nfq_handle_packet(h, buf, (int)n);
    } else if (errno == ENOBUFS) {
      overruns++;
      if (rcvbuf < RCVBUF_MAX) set_rcvbuf(fd, rcvbuf *= 2);
    } else if (errno == EAGAIN || errno == EINTR) {
      return;
    } else {
      die("reading the queue");
    }
  }
}

/* kernel_drops reads this queue's drop counters from /proc (this network namespace's view). */
static void kernel_drops(long queue, char *out, size_t size) {
  snprintf(out, size, "unknown");
  FILE *f = fopen("/proc/self/net/netfilter/nfnetlink_queue", "r");
  if (f == NULL) return;
  long q, full, undeliverable;
  unsigned long skip;
  while (fscanf(f, "%ld %lu %lu %lu %lu %ld %ld %*[^\n]", &q, &skip, &skip, &skip, &skip, &full, &undeliverable) == 7) {
    if (q == queue) snprintf(out, size, "%ld (queue full) + %ld (undeliverable)", full, undeliverable);
  }
  fclose(f);
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void usage(void) {
  fprintf(stderr, "usage: tug-netdelay --queue N --delay MS [--jitter MS] [--label TEXT]\n");
  exit(2);
}

static long number(const char *flag, const char *text, long max) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > max) {
    fprintf(stderr, "tug-netdelay: %s must be a whole number from 0 to %ld, got \"%s\"\n", flag, max, text);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  long queue = -1, delay = -1, jitter = 0;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 == argc) usage();
    if (strcmp(argv[i], "--queue") == 0) queue = number("--queue", argv[i + 1], 65535);
    else if (strcmp(argv[i], "--delay") == 0) delay = number("--delay", argv[i + 1], 3600000);
    else if (strcmp(argv[i], "--jitter") == 0) jitter = number("--jitter", argv[i + 1], 3600000);
    else if (strcmp(argv[i], "--label") != 0) usage();
  }
  if (queue < 0 || delay < 0) usage();
  delay_ns = delay * 1000000;
  jitter_ns = jitter * 1000000;
  srand48((long)now_ns() ^ getpid());

  struct nfq_handle *h = nfq_open();
  if (h == NULL) die("opening nfnetlink_queue");
  struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
  if (qh == NULL) die("binding the queue (is another program bound to it?)");
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) die("asking for metadata only");
  if (nfq_set_queue_maxlen(qh, QUEUE_MAXLEN) < 0) die("setting the queue length");
  if (nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN) < 0)
    fprintf(stderr, "tug-netdelay: this kernel has no fail-open: packets beyond %d waiting are dropped\n", QUEUE_MAXLEN);
  int fd = nfq_fd(h);
  set_rcvbuf(fd, rcvbuf);

  /* SIGTERM and SIGINT are blocked but inside ppoll, so a signal cannot slip in between the
   * check of `stopping` and the wait. */
  sigset_t blocked, unblocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &unblocked);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  printf("netdelay: queue %ld, delay %ld ms, jitter %ld ms\n", queue, delay, jitter);
  fflush(stdout);
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  while (!stopping) {
    struct timespec wait, *timeout = NULL;
    if (held_n > 0) {
      int64_t ns = heap[0].due_ns - now_ns();
      if (ns < 0) ns = 0;
      wait = (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
      timeout = &wait;
    }
    int ready = ppoll(&pfd, 1, timeout, &unblocked);
    if (ready < 0 && errno != EINTR) die("waiting on the queue");
    if (ready > 0) receive(h, fd);
    for (int64_t now = now_ns(); held_n > 0 && heap[0].due_ns <= now;) release(qh, pop().id);
  }
  while (held_n > 0) release(qh, pop().id);

  char drops[96];
  kernel_drops(queue, drops, sizeof drops);
  printf("netdelay: exit: %llu packets delayed, %llu socket overruns (ENOBUFS), %llu verdicts failed, kernel drops %s\n",
         (unsigned long long)delayed, (unsigned long long)overruns, (unsigned long long)verdict_errors, drops);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
