/*
 * example.c: a fork-aware guest on forkmail_mailbox.h (it replaces
 * demo/own-guest/own_guest.c). It arms one mailbox per
 * forkmail.mailbox=NAME:TOKEN on the kernel command line, waits with the
 * wake-up rule, prints each payload on the console as
 *
 *   forkmail-guest: mailbox=NAME payload=JSON
 *
 * (the line `forkmail check` compares byte for byte with what it wrote),
 * acks it and resets seq.
 *
 * example.fault=no-ack|ack-twice|bad-ack on the kernel command line breaks
 * one rule on purpose: ../run-check.sh shows `forkmail check` catching it.
 *
 * Build: ./build-example.sh OUT   (gcc -static -O2)
 */
#define FORKMAIL_MAILBOX_IMPLEMENTATION
#include "forkmail_mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SAY(...) (printf("example-c: " __VA_ARGS__), printf("\n"), fflush(stdout))

static char cmdline[4097];

static void read_cmdline(void)
{
	size_t n = 0;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	for (ssize_t r = 0; fd >= 0 && n < sizeof cmdline - 1; n += (size_t)r)
		if ((r = read(fd, cmdline + n, sizeof cmdline - 1 - n)) <= 0)
			break;
	if (fd >= 0)
		close(fd);
	cmdline[n] = 0;
}

/* The MODE of example.fault=MODE on the command line, or "". */
static const char *fault(void)
{
	static char mode[16];
	const char *p = strstr(cmdline, "example.fault=");
	if (p && (p == cmdline || p[-1] == ' ')) {
		p += strlen("example.fault=");
		size_t n = strcspn(p, " \n");
		if (n < sizeof mode)
			memcpy(mode, p, n);
	}
	return mode;
}

static void ack(const struct fm_mailbox *mb, const char *payload, size_t len, const char *fault)
{
	if (strcmp(fault, "no-ack") == 0) {
		SAY("mailbox=%s fault=no-ack: not acking", mb->name);
		return;
	}
	if (strcmp(fault, "bad-ack") == 0) { /* the right host and port, the wrong text */
		unsigned long port;
		struct in_addr gw;
		char line[FM_ACK_MAX + 8];
		if (fm_json_uint(payload, len, "ack_port", 65535, &port) != FM_OK || port == 0)
			return;
		int n = snprintf(line, sizeof line, "stage=received mailbox=%s\n", mb->name);
		int rc = fm_gateway(&gw);
		if (rc == FM_OK)
			rc = fm_send_udp(gw, (uint16_t)port, line, (size_t)n);
		SAY("mailbox=%s fault=bad-ack: sent stage=received (%s)", mb->name, fm_strerror(rc));
		return;
	}
	for (int k = strcmp(fault, "ack-twice") == 0 ? 2 : 1; k > 0; k--) {
		int rc = fm_ack(mb, payload, len);
		if (rc == FM_OK)
			SAY("mailbox=%s ack sent", mb->name);
		else if (rc != FM_ENOPORT) /* no ack_port: no ack asked */
			SAY("mailbox=%s ack failed: %s%s%s", mb->name, fm_strerror(rc),
			    rc == FM_ESYS ? ": " : "", rc == FM_ESYS ? strerror(errno) : "");
	}
}

int main(void)
{
	static struct fm_param params[FM_WAIT_MAX];
	static struct fm_mailbox boxes[FM_WAIT_MAX];
	static char payload[FM_PAYLOAD_BUF];
	size_t n = 0, armed = 0, i, len;

	read_cmdline();
	int rc = fm_parse_cmdline(cmdline, params, FM_WAIT_MAX, &n);
	if (rc != FM_OK) {
		SAY("bad forkmail.mailbox=NAME:TOKEN on the kernel command line: %s", fm_strerror(rc));
		return 2;
	}
	for (i = 0; i < n; i++) {
		rc = fm_arm(&boxes[armed], params[i].name, params[i].token);
		if (rc != FM_OK)
			SAY("cannot arm mailbox %s: %s%s%s", params[i].name, fm_strerror(rc),
			    rc == FM_ESYS ? ": " : "", rc == FM_ESYS ? strerror(errno) : "");
		else
			SAY("armed mailbox=%s", boxes[armed++].name);
	}
	if (armed == 0) {
		SAY("no mailbox armed (kernel command line: forkmail.mailbox=NAME:TOKEN)");
		return 1;
	}
	const char *f = fault();
	if (*f)
		SAY("fault=%s", f);
	for (;;) {
		rc = fm_wait(boxes, armed, -1, &i);
		if (rc != FM_OK) {
			SAY("wait: %s", fm_strerror(rc));
			return 1;
		}
		rc = fm_payload(&boxes[i], payload, sizeof payload, &len);
		if (rc == FM_OK) {
			printf("forkmail-guest: mailbox=%s payload=%s\n", boxes[i].name, payload);
			fflush(stdout);
			ack(&boxes[i], payload, len, f);
		} else {
			SAY("mailbox=%s bad frame: %s", boxes[i].name, fm_strerror(rc));
		}
		fm_reset(&boxes[i]);
	}
}
