/*
 * forkmail_mailbox.h: the guest side of the fork-mailbox contract
 * (docs/mailbox-contract.md) in one header. Linux, libc only, C99 plus the
 * GCC/Clang __atomic builtins.
 *
 *   #define FORKMAIL_MAILBOX_IMPLEMENTATION   // in exactly one .c file
 *   #include "forkmail_mailbox.h"
 *
 * Why stb-style and not static inline: one copy of the code (and of the
 * scrambled magic) per program however many files include the header, and
 * no "unused static function" noise; the price is one #define in one file.
 *
 * A guest: fm_arm() each mailbox before the VM is snapshotted, fm_wait()
 * (the wake-up rule) or fm_poll(), fm_payload(), apply it, fm_ack(),
 * fm_reset(). fm_disarm() when done. Every call returns FM_OK (0) or a
 * negative FM_E* status; fm_strerror() names it; after FM_ESYS, errno says
 * why. A mailbox is used by one thread at a time.
 *
 * The wake-up rule (docs/guests.md): fm_wait polls seq every 1 ms for 10 s
 * after arming and after a detected resume, every 1 s otherwise. A resume
 * is detected from a vmgenid uevent (NEW_VMGENID=1 on
 * NETLINK_KOBJECT_UEVENT) or a step of more than 1 s of CLOCK_REALTIME
 * against CLOCK_MONOTONIC.
 */
#ifndef FORKMAIL_MAILBOX_H
#define FORKMAIL_MAILBOX_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define FM_PAGE_SIZE 4096
#define FM_NAME_MAX 64            /* ^[A-Za-z0-9._:-]{1,64}$ */
#define FM_TOKEN_MAX 128          /* fork token: 1..128 bytes of UTF-8, no NUL, not blank */
#define FM_RN_TOKEN_MAX 30        /* resume-network token: 1..30 bytes */
#define FM_PAYLOAD_MAX 3832       /* fork payload */
#define FM_RN_PAYLOAD_MAX 4024    /* resume-network payload */
#define FM_PAYLOAD_BUF (FM_RN_PAYLOAD_MAX + 1) /* fm_payload's buffer: any payload and a NUL */
#define FM_ACK_MAX (22 + FM_NAME_MAX + 2)      /* "stage=applied mailbox=NAME\n" and a NUL */
#define FM_WAIT_MAX 16            /* mailboxes one fm_wait watches (a fork has at most 16) */

#define FM_FAST_WINDOW_MS 10000   /* fast polling lasts this long after arming or a resume */
#define FM_FAST_INTERVAL_MS 1
#define FM_SLOW_INTERVAL_MS 1000
#define FM_CLOCK_STEP_MS 1000     /* a REALTIME-MONOTONIC step above this is a resume */

enum fm_kind { FM_FORK = 0, FM_RESUME_NETWORK = 1 };

enum fm_status {
	FM_OK = 0,
	FM_EMPTY = -1,      /* no payload published: seq is 0 */
	FM_ETIMEDOUT = -2,  /* fm_wait's timeout passed */
	FM_EINVAL = -3,     /* a bad argument: name, token, buffer, mailbox not armed */
	FM_ESYS = -4,       /* a system call failed: errno says why */
	FM_EPAYLOAD = -5,   /* the frame breaks the contract: length, NUL, UTF-8 */
	FM_ENOPORT = -6,    /* no top-level ack_port 1..65535: nothing to ack */
	FM_ENOGATEWAY = -7, /* no default route in /proc/net/route */
	FM_ENOKEY = -8,     /* fm_json_uint: no such top-level key */
	FM_ERANGE = -9,     /* fm_json_uint: the value is not an integer 0..max */
	FM_EJSON = -10      /* fm_json_uint: not a JSON object */
};

/* One armed mailbox. The fields are the library's; read them, do not write. */
struct fm_mailbox {
	unsigned char *page;       /* the locked 4096-byte page; NULL when not armed */
	enum fm_kind kind;
	char name[FM_NAME_MAX + 1]; /* fork mailboxes; "" for resume-network */
	int uevent_fd;             /* NETLINK_KOBJECT_UEVENT socket, -1 without */
	int64_t fast_until_ns;     /* CLOCK_MONOTONIC: poll fast until then */
	int64_t clock_skew_ns;     /* CLOCK_REALTIME - CLOCK_MONOTONIC when last looked */
};

/* One forkmail.mailbox=NAME:TOKEN of a kernel command line, token decoded. */
struct fm_param {
	char name[FM_NAME_MAX + 1];
	char token[FM_TOKEN_MAX + 1];
};

#ifdef __cplusplus
extern "C" {
#endif

/* Map, lock and fill a page with the marker: magic, name, NUL, token. mb
 * must not be armed (zero it first, or fm_disarm it). */
int fm_arm(struct fm_mailbox *mb, const char *name, const char *token);
/* The same for a resume-network mailbox (magic, token; no ack defined). */
int fm_arm_resume_network(struct fm_mailbox *mb, const char *token);
/* FM_OK when a payload is published (seq != 0), FM_EMPTY when not. */
int fm_poll(const struct fm_mailbox *mb);
/* Block until one of mbs[0..n) (n <= FM_WAIT_MAX) has a payload (its
 * index in *ready, when ready is not NULL), with the wake-up rule;
 * timeout_ms < 0 waits for ever. */
int fm_wait(struct fm_mailbox *mbs, size_t n, int timeout_ms, size_t *ready);
/* Copy the payload to buf (cap >= FM_PAYLOAD_BUF), NUL-terminated; its
 * length in *len. FM_EPAYLOAD when the length is over the limit or the
 * bytes hold a NUL or are not UTF-8. */
int fm_payload(const struct fm_mailbox *mb, char *buf, size_t cap, size_t *len);
/* Send "stage=applied mailbox=NAME\n" over UDP to the default gateway on
 * the payload's top-level ack_port; FM_ENOPORT when it has none. */
int fm_ack(const struct fm_mailbox *mb, const char *payload, size_t len);
/* seq = 0 (release store): the payload is consumed. */
void fm_reset(struct fm_mailbox *mb);
/* Zero the page, unlock and unmap it, close the uevent socket. */
void fm_disarm(struct fm_mailbox *mb);
const char *fm_strerror(int status);

/* Building blocks, public for tests and for guests that do things their way. */
int fm_name_valid(const char *name);
int fm_token_valid(const char *token);
/* The top-level integer value of key (ASCII) in a JSON object, 0..max. */
int fm_json_uint(const char *json, size_t len, const char *key, unsigned long max,
		 unsigned long *out);
/* The ack line for name into buf; its length, or FM_EINVAL. */
int fm_format_ack(const char *name, char *buf, size_t cap);
int fm_parse_route(const char *route_text, struct in_addr *gateway);
int fm_gateway(struct in_addr *gateway); /* reads /proc/net/route */
int fm_send_udp(struct in_addr to, uint16_t port, const void *buf, size_t len);
/* Every forkmail.mailbox=NAME:TOKEN (token percent-decoded) in order. */
int fm_parse_cmdline(const char *cmdline, struct fm_param *out, size_t cap, size_t *count);

#ifdef __cplusplus
}
#endif
#endif /* FORKMAIL_MAILBOX_H */

#ifdef FORKMAIL_MAILBOX_IMPLEMENTATION
#ifndef FORKMAIL_MAILBOX_IMPLEMENTED
#define FORKMAIL_MAILBOX_IMPLEMENTED

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fm__layout {
	size_t seq, len, payload, max;
};

static struct fm__layout fm__layout_of(enum fm_kind k)
{
	struct fm__layout fork = {256, 260, 264, FM_PAYLOAD_MAX}, rn = {64, 68, 72, FM_RN_PAYLOAD_MAX};
	return k == FM_FORK ? fork : rn;
}

/* The magics XOR 0x5a, so the program file holds no copy of them: its bytes
 * are in guest RAM too, and a scan would report a stray marker. */
#define FM__X(c) (unsigned char)((c) ^ 0x5a)
static const unsigned char fm__fork_magic[24] = {
	FM__X('H'), FM__X('Y'), FM__X('P'), FM__X('E'), FM__X('M'), FM__X('A'), FM__X('N'),
	FM__X('_'), FM__X('F'), FM__X('O'), FM__X('R'), FM__X('K'), FM__X('_'), FM__X('M'),
	FM__X('A'), FM__X('I'), FM__X('L'), FM__X('B'), FM__X('O'), FM__X('X'), FM__X('_'),
	FM__X('V'), FM__X('1'), FM__X(0)};
static const unsigned char fm__rn_magic[34] = {
	FM__X('H'), FM__X('Y'), FM__X('P'), FM__X('E'), FM__X('M'), FM__X('A'), FM__X('N'),
	FM__X('_'), FM__X('R'), FM__X('E'), FM__X('S'), FM__X('U'), FM__X('M'), FM__X('E'),
	FM__X('_'), FM__X('N'), FM__X('E'), FM__X('T'), FM__X('W'), FM__X('O'), FM__X('R'),
	FM__X('K'), FM__X('_'), FM__X('M'), FM__X('A'), FM__X('I'), FM__X('L'), FM__X('B'),
	FM__X('O'), FM__X('X'), FM__X('_'), FM__X('V'), FM__X('1'), FM__X(0)};

static int64_t fm__now(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static uint32_t *fm__seq_ptr(const struct fm_mailbox *mb)
{
	/* The page is page-aligned and seq is at 256 or 64: aligned for a u32. */
	return (uint32_t *)(void *)(mb->page + fm__layout_of(mb->kind).seq);
}

/* Next code point of UTF-8 s[*i..n): strict (no overlongs, surrogates or
 * values over U+10FFFF). 0 and *i advanced, or -1. */
static int fm__utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp)
{
	unsigned char c = s[*i];
	size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (len == 0 || n - *i < len)
		return -1;
	uint32_t v = len == 1 ? c : c & (0x7f >> len);
	for (size_t k = 1; k < len; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		v = v << 6 | (s[*i + k] & 0x3f);
	}
	if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*i += len;
	*cp = v;
	return 0;
}

static int fm__utf8_valid(const char *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0; i < n;)
		if (fm__utf8_next((const unsigned char *)s, n, &i, &cp) != 0)
			return 0;
	return 1;
}

/* Unicode White_Space, as Rust's char::is_whitespace and Go's unicode.IsSpace. */
static int fm__is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

int fm_name_valid(const char *name)
{
	size_t n = 0;
	if (!name)
		return 0;
	for (; name[n]; n++) {
		unsigned char c = (unsigned char)name[n];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '.' || c == '_' || c == ':' || c == '-';
		if (!ok || n == FM_NAME_MAX)
			return 0;
	}
	return n > 0;
}

int fm_token_valid(const char *token)
{
	size_t n, i = 0;
	uint32_t cp;
	int blank = 1;
	if (!token || (n = strnlen(token, FM_TOKEN_MAX + 1)) == 0 || n > FM_TOKEN_MAX)
		return 0;
	while (i < n) {
		if (fm__utf8_next((const unsigned char *)token, n, &i, &cp) != 0)
			return 0;
		blank &= fm__is_space(cp);
	}
	return !blank;
}

/* The NETLINK_KOBJECT_UEVENT address (the ABI of linux/netlink.h, defined
 * here to stay with libc's headers). Group 1 is the kernel's uevents. */
struct fm__sockaddr_nl {
	sa_family_t nl_family;
	unsigned short nl_pad;
	uint32_t nl_pid;
	uint32_t nl_groups;
};
#define FM__NETLINK_KOBJECT_UEVENT 15

static int fm__uevent_open(void)
{
	struct fm__sockaddr_nl a = {AF_NETLINK, 0, 0, 1};
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, FM__NETLINK_KOBJECT_UEVENT);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		fd = -1;
	}
	return fd; /* optional: without it only the clock step signals a resume */
}

/* Whether a uevent (NUL-separated fields) carries NEW_VMGENID=1. */
static int fm__is_vmgenid(const char *msg, size_t n)
{
	for (size_t i = 0, len; i < n; i += len + 1)
		if ((len = strnlen(msg + i, n - i)) == 13 && memcmp(msg + i, "NEW_VMGENID=1", 13) == 0)
			return 1;
	return 0;
}

/* Read what is queued (at most 64 messages); 1 if one was the kernel's
 * NEW_VMGENID=1 (the VM was restored from a snapshot). */
static int fm__uevent_drain(int fd)
{
	char buf[4096];
	int seen = 0;
	for (int k = 0; k < 64; k++) {
		struct fm__sockaddr_nl from;
		socklen_t fl = sizeof from;
		ssize_t r = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (r <= 0)
			break;
		if (fl >= sizeof from && from.nl_pid == 0) /* from the kernel, not a process */
			seen |= fm__is_vmgenid(buf, (size_t)r);
	}
	return seen;
}

static void fm__fast(struct fm_mailbox *mbs, size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++)
		mbs[i].fast_until_ns = now + (int64_t)FM_FAST_WINDOW_MS * 1000000;
}

static int fm__map(struct fm_mailbox *mb, enum fm_kind kind)
{
	void *p = mmap(NULL, FM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return FM_ESYS;
	/* Locked, and not inherited by a fork(): a child's copy-on-write copy
	 * would keep the marker in a second physical page once we write seq. */
	if (mlock(p, FM_PAGE_SIZE) != 0 || madvise(p, FM_PAGE_SIZE, MADV_DONTFORK) != 0) {
		int e = errno;
		munmap(p, FM_PAGE_SIZE);
		errno = e;
		return FM_ESYS;
	}
	memset(mb, 0, sizeof *mb);
	mb->page = p; /* zero-filled by the kernel */
	mb->kind = kind;
	return FM_OK;
}

static void fm__put_magic(unsigned char *page, enum fm_kind kind)
{
	/* volatile: the compiler cannot fold the XOR back into a plain copy. */
	static volatile unsigned char key = 0x5a;
	const unsigned char *x = kind == FM_FORK ? fm__fork_magic : fm__rn_magic;
	size_t n = kind == FM_FORK ? sizeof fm__fork_magic : sizeof fm__rn_magic;
	for (size_t i = 0; i < n; i++)
		page[i] = x[i] ^ key; /* straight into the page, byte by byte */
}

static void fm__start(struct fm_mailbox *mb)
{
	mb->uevent_fd = fm__uevent_open();
	mb->clock_skew_ns = fm__now(CLOCK_REALTIME) - fm__now(CLOCK_MONOTONIC);
	fm__fast(mb, 1, fm__now(CLOCK_MONOTONIC));
}

int fm_arm(struct fm_mailbox *mb, const char *name, const char *token)
{
	if (!mb || !fm_name_valid(name) || !fm_token_valid(token))
		return FM_EINVAL;
	size_t nl = strlen(name), tl = strlen(token);
	int rc = fm__map(mb, FM_FORK);
	if (rc != FM_OK)
		return rc;
	/* The marker is built in the page piece by piece: magic, name, NUL (the
	 * page is zero), token; the bytes after it stay zero up to seq. */
	fm__put_magic(mb->page, FM_FORK);
	memcpy(mb->page + sizeof fm__fork_magic, name, nl);
	memcpy(mb->page + sizeof fm__fork_magic + nl + 1, token, tl);
	memcpy(mb->name, name, nl + 1);
	fm__start(mb);
	return FM_OK;
}

int fm_arm_resume_network(struct fm_mailbox *mb, const char *token)
{
	size_t tl = token ? strnlen(token, FM_RN_TOKEN_MAX + 1) : 0;
	if (!mb || tl == 0 || tl > FM_RN_TOKEN_MAX)
		return FM_EINVAL;
	int rc = fm__map(mb, FM_RESUME_NETWORK);
	if (rc != FM_OK)
		return rc;
	fm__put_magic(mb->page, FM_RESUME_NETWORK);
	memcpy(mb->page + sizeof fm__rn_magic, token, tl); /* zero padded to 64 */
	fm__start(mb);
	return FM_OK;
}

int fm_poll(const struct fm_mailbox *mb)
{
	if (!mb || !mb->page)
		return FM_EINVAL;
	return __atomic_load_n(fm__seq_ptr(mb), __ATOMIC_ACQUIRE) != 0 ? FM_OK : FM_EMPTY;
}

/* Whether CLOCK_REALTIME stepped against CLOCK_MONOTONIC since last looked. */
static int fm__clock_stepped(struct fm_mailbox *mbs, size_t n)
{
	int64_t skew = fm__now(CLOCK_REALTIME) - fm__now(CLOCK_MONOTONIC);
	int stepped = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t d = skew - mbs[i].clock_skew_ns;
		stepped |= d > (int64_t)FM_CLOCK_STEP_MS * 1000000 || -d > (int64_t)FM_CLOCK_STEP_MS * 1000000;
		mbs[i].clock_skew_ns = skew;
	}
	return stepped;
}

/* Sleep up to ns, woken early by a uevent; 1 if it was a vmgenid one. */
static int fm__sleep(struct fm_mailbox *mbs, size_t n, int64_t ns)
{
	struct pollfd fds[FM_WAIT_MAX];
	nfds_t nfds = 0;
	for (size_t i = 0; i < n; i++)
		if (mbs[i].uevent_fd >= 0)
			fds[nfds++] = (struct pollfd){.fd = mbs[i].uevent_fd, .events = POLLIN};
	if (nfds == 0) {
		struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
		nanosleep(&t, NULL);
		return 0;
	}
	int resumed = 0;
	if (poll(fds, nfds, (int)((ns + 999999) / 1000000)) > 0)
		for (nfds_t i = 0; i < nfds; i++)
			if (fds[i].revents & POLLIN)
				resumed |= fm__uevent_drain(fds[i].fd);
	return resumed;
}

int fm_wait(struct fm_mailbox *mbs, size_t n, int timeout_ms, size_t *ready)
{
	if (!mbs || n == 0 || n > FM_WAIT_MAX)
		return FM_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!mbs[i].page)
			return FM_EINVAL;
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : fm__now(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;
	for (;;) {
		for (size_t i = 0; i < n; i++)
			if (fm_poll(&mbs[i]) == FM_OK) {
				if (ready)
					*ready = i;
				return FM_OK;
			}
		int64_t now = fm__now(CLOCK_MONOTONIC);
		if (now >= deadline)
			return FM_ETIMEDOUT;
		if (fm__clock_stepped(mbs, n))
			fm__fast(mbs, n, now);
		int fast = 0;
		for (size_t i = 0; i < n; i++)
			fast |= now < mbs[i].fast_until_ns;
		int64_t ns = (int64_t)(fast ? FM_FAST_INTERVAL_MS : FM_SLOW_INTERVAL_MS) * 1000000;
		if (ns > deadline - now)
			ns = deadline - now;
		if (fm__sleep(mbs, n, ns))
			fm__fast(mbs, n, fm__now(CLOCK_MONOTONIC));
	}
}

int fm_payload(const struct fm_mailbox *mb, char *buf, size_t cap, size_t *len)
{
	if (!mb || !mb->page || !buf || !len || cap < FM_PAYLOAD_BUF)
		return FM_EINVAL;
	struct fm__layout l = fm__layout_of(mb->kind);
	/* Acquire: the length and payload the host wrote before seq are seen. */
	if (fm_poll(mb) != FM_OK)
		return FM_EMPTY;
	const unsigned char *p = mb->page;
	uint32_t n = (uint32_t)p[l.len] | (uint32_t)p[l.len + 1] << 8 | (uint32_t)p[l.len + 2] << 16 |
		     (uint32_t)p[l.len + 3] << 24;
	if (n > l.max)
		return FM_EPAYLOAD;
	memcpy(buf, p + l.payload, n);
	buf[n] = 0;
	if (memchr(buf, 0, n) != NULL || !fm__utf8_valid(buf, n))
		return FM_EPAYLOAD;
	*len = n;
	return FM_OK;
}

void fm_reset(struct fm_mailbox *mb)
{
	if (mb && mb->page)
		__atomic_store_n(fm__seq_ptr(mb), 0, __ATOMIC_RELEASE);
}

void fm_disarm(struct fm_mailbox *mb)
{
	if (!mb || !mb->page)
		return;
	/* Zero first, while still locked: the marker must not outlive the
	 * mailbox in a freed page that a later snapshot would hold. */
	volatile unsigned char *v = mb->page;
	for (size_t i = 0; i < FM_PAGE_SIZE; i++)
		v[i] = 0;
	munlock(mb->page, FM_PAGE_SIZE);
	munmap(mb->page, FM_PAGE_SIZE);
	if (mb->uevent_fd >= 0)
		close(mb->uevent_fd);
	memset(mb, 0, sizeof *mb);
	mb->uevent_fd = -1;
}

/* ---- JSON: one top-level integer --------------------------------------
 * fm_json_uint validates the whole text as JSON (RFC 8259: strings with
 * their escapes and UTF-8, numbers, literals, nesting) in one pass with no
 * recursion and no allocation, and returns the value of the LAST top-level
 * member whose key, escapes decoded, equals key: what forkmail's own
 * parser (serde_json) returns, on every case of testdata/vectors.json.
 * Limits: key must be ASCII; nesting deeper than 4096 is refused (a
 * 3832-byte payload nests at most 1916 deep); as in serde_json, unpaired
 * \u surrogates are refused in top-level keys and accepted elsewhere; the
 * value must be written as a plain integer (40123, not 4.0123e4, 40123.0
 * or "40123"), and -0 is not one. */
#define FM__JSON_DEPTH 4096

static size_t fm__ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static int fm__hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The string at s[i] == '"': the index after its closing quote, or 0 when
 * it is not valid. *match: whether it equals key (NULL: no comparison). */
static size_t fm__string(const char *s, size_t n, size_t i, const char *key, int *match)
{
	size_t k = 0;
	uint32_t high = 0; /* a pending \uD800-\uDBFF of a key */
	int eq = key != NULL;
	for (i++; i < n;) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp = c;
		if (c == '"') {
			if (high)
				return 0;
			if (match)
				*match = eq && key[k] == 0;
			return i + 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			if (n - i < 2)
				return 0;
			char e = s[i + 1];
			i += 2;
			if (e == 'u') {
				if (n - i < 4)
					return 0;
				cp = 0;
				for (size_t d = 0; d < 4; d++) {
					int h = fm__hex(s[i + d]);
					if (h < 0)
						return 0;
					cp = cp << 4 | (uint32_t)h;
				}
				i += 4;
			} else {
				const char *at = e ? strchr(from, e) : NULL;
				if (!at)
					return 0;
				cp = (unsigned char)to[at - from];
			}
		} else if (c < 0x80) {
			i++;
		} else if (fm__utf8_next((const unsigned char *)s, n, &i, &cp) != 0) {
			return 0;
		}
		if (key) { /* a key is decoded: \u surrogates must pair */
			int lo = cp >= 0xdc00 && cp <= 0xdfff, hi = cp >= 0xd800 && cp <= 0xdbff;
			if (high ? !lo : lo)
				return 0;
			if (hi) {
				high = cp;
				continue;
			}
			if (lo)
				cp = 0x10000 + ((high - 0xd800) << 10) + (cp - 0xdc00), high = 0;
		}
		if (eq && key[k] != 0 && cp == (unsigned char)key[k])
			k++;
		else
			eq = 0;
	}
	return 0;
}

static size_t fm__digits(const char *s, size_t n, size_t i)
{
	size_t start = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i > start ? i : 0;
}

/* A number or literal at s[i]: the index after it, or 0. */
static size_t fm__scalar(const char *s, size_t n, size_t i)
{
	static const char *const lits[] = {"true", "false", "null"};
	for (int l = 0; l < 3; l++) {
		size_t len = strlen(lits[l]);
		if (n - i >= len && memcmp(s + i, lits[l], len) == 0)
			return i + len;
	}
	if (s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i >= n || s[i] < '1' || s[i] > '9' || !(i = fm__digits(s, n, i)))
		return 0;
	if (i < n && s[i] == '.' && !(i = fm__digits(s, n, i + 1)))
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!(i = fm__digits(s, n, i)))
			return 0;
	}
	return i;
}

int fm_json_uint(const char *s, size_t n, const char *key, unsigned long max, unsigned long *out)
{
	unsigned char object[FM__JSON_DEPTH / 8]; /* bit d: the container at depth d is an object */
	size_t depth = 0, i, vstart = 0, vend = 0;
	int found = 0, ours = 0;
	if (!s || !key || !out)
		return FM_EINVAL;
	i = fm__ws(s, n, 0);
	if (i >= n || s[i] != '{')
		return FM_EJSON;
	for (;;) {
		/* A value starts here; in an object, its key first. */
		i = fm__ws(s, n, i);
		if (depth > 0 && (object[(depth - 1) / 8] >> ((depth - 1) % 8) & 1)) {
			int match = 0;
			if (i >= n || s[i] != '"' || !(i = fm__string(s, n, i, depth == 1 ? key : NULL, &match)))
				return FM_EJSON;
			i = fm__ws(s, n, i);
			if (i >= n || s[i] != ':')
				return FM_EJSON;
			i = fm__ws(s, n, i + 1);
			ours = depth == 1 && match;
		}
		if (i >= n)
			return FM_EJSON;
		if (s[i] == '{' || s[i] == '[') {
			if (ours) /* the key's value is not an integer */
				found = 1, vstart = vend = 0;
			ours = 0;
			if (depth == FM__JSON_DEPTH)
				return FM_EJSON;
			if (s[i] == '{')
				object[depth / 8] |= (unsigned char)(1u << depth % 8);
			else
				object[depth / 8] &= (unsigned char)~(1u << depth % 8);
			depth++;
			char close = s[i] == '{' ? '}' : ']';
			i = fm__ws(s, n, i + 1);
			if (i >= n || s[i] != close)
				continue; /* its first member or element */
			depth--;      /* empty */
			i++;
		} else {
			size_t start = i;
			i = s[i] == '"' ? fm__string(s, n, i, NULL, NULL) : fm__scalar(s, n, i);
			if (!i)
				return FM_EJSON;
			if (ours)
				found = 1, vstart = start, vend = i;
			ours = 0;
		}
		/* After a value: close containers, or a comma and the next one. */
		for (;;) {
			if (depth == 0) {
				if (fm__ws(s, n, i) != n)
					return FM_EJSON; /* text after the object */
				goto done;
			}
			i = fm__ws(s, n, i);
			int in_object = object[(depth - 1) / 8] >> ((depth - 1) % 8) & 1;
			if (i < n && s[i] == ',') {
				i++;
				break;
			}
			if (i >= n || s[i] != (in_object ? '}' : ']'))
				return FM_EJSON;
			depth--;
			i++;
		}
	}
done:
	if (!found)
		return FM_ENOKEY;
	unsigned long v = 0;
	if (vend == vstart)
		return FM_ERANGE;
	for (size_t k = vstart; k < vend; k++) {
		unsigned long d = (unsigned long)(s[k] - '0');
		if (s[k] < '0' || s[k] > '9' || d > max || v > (max - d) / 10)
			return FM_ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return FM_OK;
}

/* ---- ack ---------------------------------------------------------------- */

int fm_format_ack(const char *name, char *buf, size_t cap)
{
	if (!fm_name_valid(name) || !buf)
		return FM_EINVAL;
	int r = snprintf(buf, cap, "stage=applied mailbox=%s\n", name);
	return r < 0 || (size_t)r >= cap ? FM_EINVAL : r;
}

/* Field f (0-based) of the whitespace-separated line [p, end): its start
 * in *start and its length (0: the line has fewer fields). */
static size_t fm__field(const char *p, const char *end, int f, const char **start)
{
	for (int k = 0;; k++) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\f' || *p == '\r'))
			p++;
		const char *s = p;
		while (p < end && *p != ' ' && *p != '\t' && *p != '\f' && *p != '\r')
			p++;
		if (k == f || p == s) {
			*start = s;
			return (size_t)(p - s);
		}
	}
}

/* The gateway of the first default route (destination 00000000). */
int fm_parse_route(const char *text, struct in_addr *gateway)
{
	if (!text || !gateway)
		return FM_EINVAL;
	for (const char *line = strchr(text, '\n'); line && *++line;) { /* after the header */
		const char *end = strchr(line, '\n'), *f;
		if (!end)
			end = line + strlen(line);
		size_t len;
		if (fm__field(line, end, 1, &f) == 8 && memcmp(f, "00000000", 8) == 0 &&
		    (len = fm__field(line, end, 2, &f)) > 0) {
			uint32_t g = 0;
			for (size_t k = 0; k < len; k++) {
				int h = fm__hex(f[k]);
				if (h < 0 || k == 8)
					return FM_ENOGATEWAY;
				g = g << 4 | (uint32_t)h;
			}
			/* The kernel prints the __be32 as a host-order number. */
			gateway->s_addr = g;
			return g != 0 ? FM_OK : FM_ENOGATEWAY;
		}
		line = *end ? end : NULL;
	}
	return FM_ENOGATEWAY;
}

int fm_gateway(struct in_addr *gateway)
{
	char text[16384]; /* bounded: the default route is near the top */
	size_t n = 0;
	int fd = open("/proc/net/route", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return FM_ESYS;
	while (n < sizeof text - 1) {
		ssize_t r = read(fd, text + n, sizeof text - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return FM_ESYS;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	text[n] = 0;
	return fm_parse_route(text, gateway);
}

int fm_send_udp(struct in_addr to, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr = to;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return FM_ESYS;
	ssize_t r = sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof a);
	int e = r < 0 ? errno : EMSGSIZE;
	close(fd);
	if (r == (ssize_t)len)
		return FM_OK;
	errno = e;
	return FM_ESYS;
}

int fm_ack(const struct fm_mailbox *mb, const char *payload, size_t len)
{
	unsigned long port;
	char line[FM_ACK_MAX];
	struct in_addr gw;
	if (!mb || !mb->page || mb->kind != FM_FORK || !payload)
		return FM_EINVAL;
	if (fm_json_uint(payload, len, "ack_port", 65535, &port) != FM_OK || port == 0)
		return FM_ENOPORT;
	int n = fm_format_ack(mb->name, line, sizeof line);
	if (n < 0)
		return n;
	int rc = fm_gateway(&gw);
	return rc != FM_OK ? rc : fm_send_udp(gw, (uint16_t)port, line, (size_t)n);
}

/* ---- kernel command line ------------------------------------------------ */

int fm_parse_cmdline(const char *cmdline, struct fm_param *out, size_t cap, size_t *count)
{
	static const char param[] = "forkmail.mailbox=";
	const char *ws = " \t\n\f\r"; /* Rust's ASCII whitespace, as forkmail splits */
	size_t found = 0;
	if (!cmdline || !count || (cap && !out))
		return FM_EINVAL;
	for (const char *p = cmdline; *p;) {
		p += strspn(p, ws);
		size_t wl = strcspn(p, ws);
		const char *w = p, *colon = NULL;
		p += wl;
		if (wl < sizeof param - 1 || memcmp(w, param, sizeof param - 1) != 0)
			continue;
		for (const char *c = w + sizeof param - 1; c < w + wl; c++)
			if (*c == ':')
				colon = c; /* the last: a name may hold ':' */
		const char *name = w + sizeof param - 1;
		if (!colon || (size_t)(colon - name) > FM_NAME_MAX || found == cap)
			return FM_EINVAL;
		struct fm_param *o = &out[found++];
		memcpy(o->name, name, (size_t)(colon - name));
		o->name[colon - name] = 0;
		size_t t = 0;
		for (const char *c = colon + 1; c < w + wl; t++) {
			int hi = 0, lo = 0;
			if (t == FM_TOKEN_MAX)
				return FM_EINVAL;
			if (*c == '%') { /* %XX; %00 cannot be part of a token */
				if (w + wl - c < 3 || (hi = fm__hex(c[1])) < 0 || (lo = fm__hex(c[2])) < 0 || !(hi | lo))
					return FM_EINVAL;
				o->token[t] = (char)(hi << 4 | lo);
				c += 3;
			} else {
				o->token[t] = *c++;
			}
		}
		o->token[t] = 0;
		if (!fm__utf8_valid(o->token, t))
			return FM_EINVAL;
	}
	*count = found;
	return FM_OK;
}

const char *fm_strerror(int status)
{
	switch (status) {
	case FM_OK: return "ok";
	case FM_EMPTY: return "no payload published (seq is 0)";
	case FM_ETIMEDOUT: return "timed out waiting for a payload";
	case FM_EINVAL: return "invalid argument (name, token, buffer, or mailbox not armed)";
	case FM_ESYS: return "a system call failed (errno says why)";
	case FM_EPAYLOAD: return "the frame breaks the contract (length over the limit, a NUL, or not UTF-8)";
	case FM_ENOPORT: return "no top-level ack_port in the payload: nothing to ack";
	case FM_ENOGATEWAY: return "no default gateway in /proc/net/route";
	case FM_ENOKEY: return "no such top-level key";
	case FM_ERANGE: return "the value is not an integer in range";
	case FM_EJSON: return "not a JSON object";
	}
	return "unknown forkmail status";
}

#endif /* FORKMAIL_MAILBOX_IMPLEMENTED */
#endif /* FORKMAIL_MAILBOX_IMPLEMENTATION */
