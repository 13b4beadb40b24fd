/*
 * own-guest: a guest program that shares no code with forkmail. It speaks
 * the fork-mailbox contract (docs/mailbox-contract.md) from its constants
 * alone, as any guest software would:
 *
 *   - arms one mailbox per `ownguest.mailbox=NAME:TOKEN` on the kernel
 *     command line: a 4 KiB page from mmap, locked with mlock, with the
 *     marker `HYPEMAN_FORK_MAILBOX_V1\0NAME\0TOKEN` written into it at run
 *     time (the magic is assembled in the page, so the program file itself
 *     never holds a copy of it: a copy would be a second marker in RAM);
 *   - polls each mailbox's seq (u32 LE at +256) every millisecond;
 *   - once seq is non-zero: reads the length (+260) and the payload (+264),
 *     prints `own-guest: mailbox=NAME payload=PAYLOAD` on the console, sends
 *     `stage=applied mailbox=NAME` over UDP to its default gateway on the
 *     payload's `ack_port`, and resets seq to 0.
 *
 * forkmail finds the markers itself, by scanning the guest's memory while it
 * boots (`forkmail template create … --wait-for-marker NAME[:TOKEN]`).
 *
 * Build: gcc -static -O2 -o own-guest own_guest.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAILBOX_SIZE 4096
#define SEQ_OFFSET 256
#define LEN_OFFSET 260
#define PAYLOAD_OFFSET 264
#define MAX_PAYLOAD 3832
#define MAX_MAILBOXES 8
#define PARAM "ownguest.mailbox="

struct mailbox {
    char name[65];
    unsigned char *page;
};

static struct mailbox boxes[MAX_MAILBOXES];
static int nboxes;

/* The magic with '-' for '_': "HYPEMAN_" never appears in this file's data. */
static const char MAGIC_SPELLED[] = "HYPEMAN-FORK-MAILBOX-V1";
static volatile char underscore = '_';

static volatile uint32_t *field(unsigned char *page, int offset)
{
    return (volatile uint32_t *)(page + offset);
}

static int arm(const char *name, size_t name_len, const char *token, size_t token_len)
{
    if (nboxes == MAX_MAILBOXES || name_len == 0 || name_len > 64 || token_len == 0 ||
        token_len > 128)
        return -1;
    unsigned char *page = mmap(NULL, MAILBOX_SIZE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return -1;
    if (mlock(page, MAILBOX_SIZE) != 0) {
        printf("own-guest: mlock: %s\n", strerror(errno));
        return -1;
    }
    size_t at = 0;
    for (size_t i = 0; MAGIC_SPELLED[i]; i++)
        page[at++] = MAGIC_SPELLED[i] == '-' ? underscore : (unsigned char)MAGIC_SPELLED[i];
    page[at++] = 0;
    memcpy(page + at, name, name_len);
    at += name_len;
    page[at++] = 0;
    memcpy(page + at, token, token_len);
    struct mailbox *b = &boxes[nboxes++];
    memcpy(b->name, name, name_len);
    b->name[name_len] = 0;
    b->page = page;
    printf("own-guest: armed mailbox %s\n", b->name);
    return 0;
}

/* Every ownguest.mailbox=NAME:TOKEN of /proc/cmdline. */
static void arm_from_cmdline(void)
{
    static char cmdline[4096];
    FILE *f = fopen("/proc/cmdline", "r");
    if (!f) {
        printf("own-guest: cannot read /proc/cmdline\n");
        return;
    }
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
    fclose(f);
    cmdline[n] = 0;
    for (char *word = strtok(cmdline, " \n"); word; word = strtok(NULL, " \n")) {
        if (strncmp(word, PARAM, strlen(PARAM)) != 0)
            continue;
        char *spec = word + strlen(PARAM);
        char *colon = strchr(spec, ':');
        if (!colon || arm(spec, colon - spec, colon + 1, strlen(colon + 1)) != 0)
            printf("own-guest: cannot arm %s\n", spec);
    }
}

/* The default gateway from /proc/net/route, in network byte order. */
static int gateway(struct in_addr *out)
{
    char line[256];
    FILE *f = fopen("/proc/net/route", "r");
    if (!f)
        return -1;
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        char iface[64];
        unsigned long dest, gw;
        if (sscanf(line, "%63s %lx %lx", iface, &dest, &gw) == 3 && dest == 0 && gw != 0) {
            out->s_addr = (uint32_t)gw; /* the kernel prints the __be32 as is */
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

/* The payload's top-level "ack_port": forkmail appends it last. */
static long ack_port(const char *payload)
{
    const char *key = "\"ack_port\"", *last = NULL;
    for (const char *p = strstr(payload, key); p; p = strstr(p + 1, key))
        last = p;
    if (!last)
        return -1;
    const char *p = last + strlen(key);
    while (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    char *end;
    long port = strtol(p, &end, 10);
    return end == p || port <= 0 || port > 65535 ? -1 : port;
}

static void ack(const struct mailbox *b, long port)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (gateway(&to.sin_addr) != 0) {
        printf("own-guest: mailbox=%s no default gateway: no ack sent\n", b->name);
        return;
    }
    char msg[128];
    int len = snprintf(msg, sizeof msg, "stage=applied mailbox=%s", b->name);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || sendto(s, msg, len, 0, (struct sockaddr *)&to, sizeof to) != len)
        printf("own-guest: mailbox=%s ack failed: %s\n", b->name, strerror(errno));
    else
        printf("own-guest: mailbox=%s ack sent to %s:%ld\n", b->name, inet_ntoa(to.sin_addr),
               port);
    if (s >= 0)
        close(s);
}

static void consume(struct mailbox *b)
{
    static char payload[MAX_PAYLOAD + 1];
    /* seq is the publish flag, written last by the host. */
    if (__atomic_load_n(field(b->page, SEQ_OFFSET), __ATOMIC_ACQUIRE) == 0)
        return;
    uint32_t len = *field(b->page, LEN_OFFSET);
    if (len > MAX_PAYLOAD)
        len = MAX_PAYLOAD;
    memcpy(payload, b->page + PAYLOAD_OFFSET, len);
    payload[len] = 0;
    printf("own-guest: mailbox=%s payload=%s\n", b->name, payload);
    long port = ack_port(payload);
    if (port > 0)
        ack(b, port);
    __atomic_store_n(field(b->page, SEQ_OFFSET), 0, __ATOMIC_RELEASE);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    arm_from_cmdline();
    if (nboxes == 0) {
        printf("own-guest: no %sNAME:TOKEN on the kernel command line\n", PARAM);
        return 1;
    }
    struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
    for (;;) {
        for (int i = 0; i < nboxes; i++)
            consume(&boxes[i]);
        nanosleep(&ms, NULL);
    }
}
