/*
 * test.c: forkmail_mailbox.h against ../testdata/vectors.json (forkmail's
 * own encoder's output), byte for byte, and the wake-up rule's timing.
 * Run: make test   (built with ASan and UBSan)
 */
#define FORKMAIL_MAILBOX_IMPLEMENTATION
#include "forkmail_mailbox.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (cond) {                                                       \
			passed++;                                                 \
		} else {                                                          \
			failed++;                                                 \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);               \
			printf(__VA_ARGS__);                                      \
			printf("\n");                                             \
		}                                                                 \
	} while (0)

/* ---- a small JSON reader for the vectors file (test only) ---- */
enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jv {
	int t, b;
	double num;
	char *s; /* J_STR: decoded bytes, NUL-terminated; len may hold NULs */
	size_t len, n;
	struct jv *items;
	char **keys;
};
static const char *jp;

static void jws(void)
{
	while (*jp == ' ' || *jp == '\n' || *jp == '\t' || *jp == '\r')
		jp++;
}

static void put_utf8(char **o, uint32_t c)
{
	if (c < 0x80) {
		*(*o)++ = (char)c;
	} else if (c < 0x800) {
		*(*o)++ = (char)(0xc0 | c >> 6), *(*o)++ = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		*(*o)++ = (char)(0xe0 | c >> 12), *(*o)++ = (char)(0x80 | (c >> 6 & 0x3f));
		*(*o)++ = (char)(0x80 | (c & 0x3f));
	} else {
		*(*o)++ = (char)(0xf0 | c >> 18), *(*o)++ = (char)(0x80 | (c >> 12 & 0x3f));
		*(*o)++ = (char)(0x80 | (c >> 6 & 0x3f)), *(*o)++ = (char)(0x80 | (c & 0x3f));
	}
}

static char *jstring(size_t *len)
{
	const char *end = jp + 1;
	while (*end != '"')
		end += *end == '\\' ? 2 : 1;
	char *out = malloc((size_t)(end - jp) + 1), *o = out;
	for (jp++; *jp != '"';) {
		if (*jp != '\\') {
			*o++ = *jp++;
			continue;
		}
		char e = jp[1];
		jp += 2;
		if (e == 'u') {
			uint32_t c = (uint32_t)strtoul((char[5]){jp[0], jp[1], jp[2], jp[3], 0}, NULL, 16);
			jp += 4;
			if (c >= 0xd800 && c < 0xdc00 && jp[0] == '\\' && jp[1] == 'u') {
				uint32_t lo = (uint32_t)strtoul((char[5]){jp[2], jp[3], jp[4], jp[5], 0}, NULL, 16);
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				jp += 6;
			}
			put_utf8(&o, c);
		} else {
			*o++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
		}
	}
	jp++;
	*len = (size_t)(o - out);
	*o = 0;
	return out;
}

static struct jv jparse(void)
{
	struct jv v = {0};
	jws();
	if (*jp == '{' || *jp == '[') {
		int obj = *jp++ == '{';
		v.t = obj ? J_OBJ : J_ARR;
		for (jws(); *jp != (obj ? '}' : ']');) {
			v.items = realloc(v.items, (v.n + 1) * sizeof *v.items);
			if (obj) {
				size_t l;
				v.keys = realloc(v.keys, (v.n + 1) * sizeof *v.keys);
				v.keys[v.n] = jstring(&l);
				jws();
				jp++; /* ':' */
			}
			v.items[v.n++] = jparse();
			jws();
			if (*jp == ',')
				jp++, jws();
		}
		jp++;
	} else if (*jp == '"') {
		v.t = J_STR;
		v.s = jstring(&v.len);
	} else if (*jp == 'n') {
		v.t = J_NULL, jp += 4;
	} else if (*jp == 't' || *jp == 'f') {
		v.t = J_BOOL, v.b = *jp == 't', jp += v.b ? 4 : 5;
	} else {
		char *end;
		v.t = J_NUM, v.num = strtod(jp, &end), jp = end;
	}
	return v;
}

static struct jv *jget(struct jv *o, const char *key)
{
	static struct jv null = {0};
	for (size_t i = 0; o->t == J_OBJ && i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return &null;
}

static unsigned char *unhex(const char *h, size_t *len)
{
	size_t n = strlen(h) / 2;
	unsigned char *out = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(fm__hex(h[2 * i]) << 4 | fm__hex(h[2 * i + 1]));
	out[n] = 0;
	*len = n;
	return out;
}

static int arm_like(struct fm_mailbox *mb, struct jv *v)
{
	if (strcmp(jget(v, "kind")->s, "fork") == 0)
		return fm_arm(mb, jget(v, "name")->s, jget(v, "token")->s);
	return fm_arm_resume_network(mb, jget(v, "token")->s);
}

static int page_is(const struct fm_mailbox *mb, struct jv *v, const char *field)
{
	size_t n;
	unsigned char *want = unhex(jget(v, field)->s, &n);
	int same = n == FM_PAGE_SIZE && memcmp(mb->page, want, n) == 0;
	free(want);
	return same;
}

/* ---- the vectors ---- */
static void test_vectors(struct jv *doc)
{
	struct jv *a = jget(doc, "markers");
	for (size_t i = 0; i < a->n; i++) {
		struct fm_mailbox mb = {0};
		struct jv *v = &a->items[i];
		int rc = arm_like(&mb, v);
		CHECK(rc == FM_OK, "arm %s: %s", jget(v, "token")->s, fm_strerror(rc));
		if (rc != FM_OK)
			continue;
		size_t n;
		unsigned char *marker = unhex(jget(v, "marker_hex")->s, &n);
		CHECK(memcmp(mb.page, marker, n) == 0, "marker bytes of %s", jget(v, "token")->s);
		CHECK(page_is(&mb, v, "armed_page_hex"), "armed page of %s", jget(v, "token")->s);
		free(marker);
		fm_disarm(&mb);
		CHECK(mb.page == NULL && mb.uevent_fd == -1, "disarmed");
	}
	a = jget(doc, "names");
	for (size_t i = 0; i < a->n; i++)
		CHECK(fm_name_valid(jget(&a->items[i], "name")->s) == jget(&a->items[i], "valid")->b,
		      "name %s", jget(&a->items[i], "name")->s);
	a = jget(doc, "tokens");
	for (size_t i = 0; i < a->n; i++) {
		struct jv *t = jget(&a->items[i], "token");
		if (strlen(t->s) != t->len)
			continue; /* a NUL inside: a C string cannot hold it */
		CHECK(fm_token_valid(t->s) == jget(&a->items[i], "valid")->b, "token %s", t->s);
	}
	a = jget(doc, "frames");
	for (size_t i = 0; i < a->n; i++) {
		struct jv *v = &a->items[i];
		struct fm_mailbox mb = {0};
		static char buf[FM_PAYLOAD_BUF];
		size_t len = 0, n;
		CHECK(arm_like(&mb, v) == FM_OK && page_is(&mb, v, "armed_page_hex"), "frame %zu armed", i);
		unsigned char *patched = unhex(jget(v, "patched_page_hex")->s, &n);
		memcpy(mb.page, patched, n); /* the host's patch */
		free(patched);
		if (jget(v, "empty")->b) {
			CHECK(fm_poll(&mb) == FM_EMPTY && fm_payload(&mb, buf, sizeof buf, &len) == FM_EMPTY,
			      "frame %zu: nothing published", i);
		} else if (!jget(v, "valid")->b) {
			CHECK(fm_poll(&mb) == FM_OK, "frame %zu published", i);
			CHECK(fm_payload(&mb, buf, sizeof buf, &len) == FM_EPAYLOAD, "frame %zu refused (%s)", i,
			      jget(v, "hand_made")->s);
		} else {
			unsigned char *want = unhex(jget(v, "payload_hex")->s, &n);
			int rc = fm_payload(&mb, buf, sizeof buf, &len);
			CHECK(rc == FM_OK && len == n && memcmp(buf, want, n) == 0 && buf[n] == 0,
			      "frame %zu payload (%s)", i, fm_strerror(rc));
			free(want);
			struct jv *port = jget(v, "ack_port");
			unsigned long got = 0;
			rc = fm_json_uint(buf, len, "ack_port", 65535, &got);
			CHECK(port->t == J_NULL ? rc != FM_OK : rc == FM_OK && got == (unsigned long)port->num,
			      "frame %zu ack_port", i);
		}
		if (jget(v, "ack_line")->t == J_STR) {
			char line[FM_ACK_MAX];
			int l = fm_format_ack(mb.name, line, sizeof line);
			CHECK(l > 0 && strcmp(line, jget(v, "ack_line")->s) == 0, "frame %zu ack line", i);
		}
		fm_reset(&mb);
		CHECK(page_is(&mb, v, "reset_page_hex"), "frame %zu page after reset", i);
		fm_disarm(&mb);
	}
	a = jget(doc, "acks");
	for (size_t i = 0; i < a->n; i++) {
		char line[FM_ACK_MAX];
		int l = fm_format_ack(jget(&a->items[i], "name")->s, line, sizeof line);
		CHECK(l == (int)jget(&a->items[i], "line")->len && strcmp(line, jget(&a->items[i], "line")->s) == 0,
		      "ack line of %s", jget(&a->items[i], "name")->s);
	}
	a = jget(doc, "ack_port");
	for (size_t i = 0; i < a->n; i++) {
		struct jv *v = &a->items[i], *port = jget(v, "ack_port");
		size_t n;
		char *json = (char *)unhex(jget(v, "json_hex")->s, &n);
		unsigned long got = 0;
		int rc = fm_json_uint(json, n, "ack_port", 65535, &got);
		int ok = port->t == J_NULL ? rc != FM_OK : rc == FM_OK && got == (unsigned long)port->num;
		ok &= jget(v, "is_object")->b || rc == FM_EJSON;
		CHECK(ok, "ack_port of %.80s: %s %lu", json, fm_strerror(rc), got);
		free(json);
	}
	a = jget(doc, "cmdline_params");
	for (size_t i = 0; i < a->n; i++) {
		struct fm_param p[2];
		size_t count = 0;
		struct jv *v = &a->items[i];
		CHECK(fm_parse_cmdline(jget(v, "param")->s, p, 2, &count) == FM_OK && count == 1 &&
			      strcmp(p[0].name, jget(v, "name")->s) == 0 && strcmp(p[0].token, jget(v, "token")->s) == 0,
		      "param %s", jget(v, "param")->s);
	}
	a = jget(doc, "cmdlines");
	for (size_t i = 0; i < a->n; i++) {
		struct fm_param p[8];
		size_t count = 0;
		struct jv *v = &a->items[i], *want = jget(v, "params");
		int rc = fm_parse_cmdline(jget(v, "cmdline")->s, p, 8, &count);
		int ok = jget(v, "ok")->b ? rc == FM_OK && count == want->n : rc == FM_EINVAL;
		for (size_t k = 0; ok && jget(v, "ok")->b && k < count; k++)
			ok = strcmp(p[k].name, jget(&want->items[k], "name")->s) == 0 &&
			     strcmp(p[k].token, jget(&want->items[k], "token")->s) == 0;
		CHECK(ok, "cmdline %s: %s", jget(v, "cmdline")->s, fm_strerror(rc));
	}
	a = jget(doc, "gateways");
	for (size_t i = 0; i < a->n; i++) {
		struct in_addr gw;
		struct jv *want = jget(&a->items[i], "gateway");
		int rc = fm_parse_route(jget(&a->items[i], "route")->s, &gw);
		CHECK(want->t == J_NULL ? rc == FM_ENOGATEWAY : rc == FM_OK && strcmp(inet_ntoa(gw), want->s) == 0,
		      "gateway %zu: %s", i, fm_strerror(rc));
	}
}

/* ---- behaviour beyond the vectors ---- */
static int64_t ms_now(void) { return fm__now(CLOCK_MONOTONIC) / 1000000; }

struct publisher {
	struct fm_mailbox *mb;
	int delay_ms;
	int64_t at_ms;
};

static void *publish(void *arg) /* the host: payload, length, then seq (release) */
{
	struct publisher *p = arg;
	struct timespec t = {0, (long)p->delay_ms * 1000000};
	nanosleep(&t, NULL);
	memcpy(p->mb->page + 264, "{}", 2);
	p->mb->page[260] = 2;
	p->at_ms = ms_now();
	__atomic_store_n((uint32_t *)(void *)(p->mb->page + 256), 1, __ATOMIC_RELEASE);
	return NULL;
}

/* How long after the host published fm_wait returned. */
static int64_t latency(struct fm_mailbox *mb, int timeout_ms, int *rc)
{
	struct publisher p = {mb, 30, 0};
	pthread_t th;
	size_t ready = 99;
	pthread_create(&th, NULL, publish, &p);
	*rc = fm_wait(mb, 1, timeout_ms, &ready);
	int64_t done = ms_now();
	pthread_join(th, NULL);
	fm_reset(mb);
	return ready == 0 ? done - p.at_ms : -1;
}

static void test_wakeup(void)
{
	struct fm_mailbox mb = {0};
	int rc;
	CHECK(fm_arm(&mb, "wake", "tok") == FM_OK, "arm");
	int64_t now = fm__now(CLOCK_MONOTONIC);
	CHECK(mb.fast_until_ns > now + 9000000000LL && mb.fast_until_ns <= now + 10000000000LL,
	      "arming opens a 10 s fast window");
	int64_t fast = latency(&mb, 5000, &rc);
	CHECK(rc == FM_OK && fast >= 0 && fast < 50, "fast phase: seen %lld ms after publishing", (long long)fast);

	mb.fast_until_ns = 0; /* the window has passed */
	int64_t slow = latency(&mb, 5000, &rc);
	CHECK(rc == FM_OK && slow > 500 && slow < 1500, "slow phase: seen %lld ms after publishing (1 s polls)",
	      (long long)slow);

	int64_t t0 = ms_now();
	rc = fm_wait(&mb, 1, 200, NULL);
	int64_t took = ms_now() - t0;
	CHECK(rc == FM_ETIMEDOUT && took >= 200 && took < 600, "timeout 200 ms in the slow phase: %lld ms",
	      (long long)took);

	mb.clock_skew_ns -= 5000000000LL; /* as if CLOCK_REALTIME stepped 5 s */
	rc = fm_wait(&mb, 1, 20, NULL);
	CHECK(rc == FM_ETIMEDOUT && mb.fast_until_ns > fm__now(CLOCK_MONOTONIC) + 9000000000LL,
	      "a clock step reopens the fast window");
	mb.fast_until_ns = 0;
	mb.clock_skew_ns -= 900000000LL; /* 0.9 s: not a step */
	fm_wait(&mb, 1, 20, NULL);
	CHECK(mb.fast_until_ns == 0, "a 0.9 s clock change is not a resume");
	fm_disarm(&mb);
}

static void test_api(void)
{
	struct fm_mailbox mb = {0}, none = {0};
	char buf[FM_PAYLOAD_BUF];
	size_t len;
	CHECK(fm_arm(&mb, "bad name", "t") == FM_EINVAL && mb.page == NULL, "bad name refused, nothing mapped");
	CHECK(fm_arm(&mb, "a", " \t") == FM_EINVAL, "blank token refused");
	CHECK(fm_arm_resume_network(&mb, "0123456789012345678901234567890") == FM_EINVAL, "31-byte rn token");
	CHECK(fm_poll(&none) == FM_EINVAL && fm_wait(&none, 1, 0, NULL) == FM_EINVAL, "not armed");
	CHECK(fm_wait(&mb, 0, 0, NULL) == FM_EINVAL, "no mailbox to wait for");
	CHECK(fm_arm(&mb, "a", "t") == FM_OK, "arm");
	CHECK(fm_payload(&mb, buf, FM_PAYLOAD_BUF - 1, &len) == FM_EINVAL, "a buffer too small");
	CHECK(fm_ack(&mb, "{}", 2) == FM_ENOPORT, "no ack_port: no ack");
	CHECK(fm_ack(&mb, "{\"ack_port\":0}", 14) == FM_ENOPORT, "port 0: no ack");
	fm_disarm(&mb);
	fm_disarm(&mb); /* twice is harmless */

	unsigned long v;
	CHECK(fm_json_uint("{\"k\":7}", 7, "k", 5, &v) == FM_ERANGE, "max below a digit");
	CHECK(fm_json_uint("{\"k\":5}", 7, "k", 5, &v) == FM_OK && v == 5, "max itself");
	CHECK(fm_json_uint("{\"k\":18446744073709551615}", 26, "k", (unsigned long)-1, &v) == FM_OK &&
		      v == (unsigned long)-1,
	      "ULONG_MAX");
	CHECK(fm_json_uint("{\"k\":18446744073709551616}", 26, "k", (unsigned long)-1, &v) == FM_ERANGE,
	      "ULONG_MAX + 1");
	CHECK(fm_json_uint("{\"k\":1}", 4, "k", 5, &v) == FM_EJSON, "the length bounds the read");
	char deep[2 * 4097 + 16];
	size_t d = 0;
	d += (size_t)sprintf(deep, "{\"a\":");
	for (int k = 0; k < 4096; k++)
		deep[d++] = '[';
	for (int k = 0; k < 4096; k++)
		deep[d++] = ']';
	deep[d++] = '}';
	CHECK(fm_json_uint(deep, d, "k", 5, &v) == FM_EJSON, "nesting over 4096 refused");

	static const char ev[] = "change@/devices/x\0ACTION=change\0NEW_VMGENID=1\0SEQNUM=7";
	static const char no[] = "change@/x\0NEW_VMGENID=10\0XNEW_VMGENID=1\0NEW_VMGENID=";
	CHECK(fm__is_vmgenid(ev, sizeof ev - 1) && !fm__is_vmgenid(no, sizeof no - 1) &&
		      fm__is_vmgenid("NEW_VMGENID=1", 13),
	      "vmgenid uevent fields");
	CHECK(strcmp(fm_strerror(FM_ENOPORT), "no top-level ack_port in the payload: nothing to ack") == 0 &&
		      strcmp(fm_strerror(42), "unknown forkmail status") == 0,
	      "strerror");

	/* An ack datagram arrives whole. */
	int rx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof at;
	bind(rx, (struct sockaddr *)&at, sizeof at);
	getsockname(rx, (struct sockaddr *)&at, &al);
	char line[FM_ACK_MAX], got[256];
	int l = fm_format_ack("app.config", line, sizeof line);
	CHECK(fm_send_udp(at.sin_addr, ntohs(at.sin_port), line, (size_t)l) == FM_OK, "send");
	ssize_t r = recv(rx, got, sizeof got, 0);
	CHECK(r == l && memcmp(got, "stage=applied mailbox=app.config\n", (size_t)l) == 0, "datagram");
	close(rx);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "../testdata/vectors.json";
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	rewind(f);
	char *text = malloc((size_t)size + 1);
	text[fread(text, 1, (size_t)size, f)] = 0;
	fclose(f);
	jp = text;
	struct jv doc = jparse();
	test_vectors(&doc);
	test_api();
	test_wakeup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
