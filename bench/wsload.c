/*
 * wsload: a small WebSocket echo load client (Linux, epoll, no dependencies).
 *
 *   gcc -O2 -o wsload bench/wsload.c -lz
 *   wsload HOST PORT PATH CONNECTIONS DEPTH DURATION [SIZE [WARMUP [DEFLATE]]]
 *
 * Opens CONNECTIONS connections to ws://HOST:PORT/PATH (IPv4 address), does the
 * RFC 6455 opening handshake on each (random Sec-WebSocket-Key, no extensions,
 * checks the 101 status and Sec-WebSocket-Accept), then keeps DEPTH messages of
 * SIZE bytes (default 32; text frames, masked with a fixed key, built once)
 * outstanding on every connection: every echoed message read counts one and
 * sends the next. After WARMUP seconds (default 0, not counted) it measures for
 * DURATION seconds: messages echoed and the round-trip latency of each (send
 * time kept in a FIFO per connection, microsecond histogram), then prints one
 * JSON line on stdout.
 *
 * DEFLATE=1 offers permessage-deflate (RFC 7692) in the handshake; on a connection
 * where the server accepts it, every message is sent compressed (RSV1, compressed
 * once, without context, which any server's inflater reads whatever context
 * takeover it agreed) and compressed echoes are inflated with one context per
 * connection (kept across messages, as the server's default context takeover
 * needs) to check their length. The result counts the connections that negotiated
 * it ("deflate_connections") and the compressed frames received
 * ("compressed_frames"), so a harness sees whether compression really happened.
 * DEFLATE=0 (the default) offers no extension. The result line:
 *
 *   {"messages":..., "seconds":..., "messages_per_s":..., "p50_ms":..., "p90_ms":...,
 *    "p99_ms":..., "errors":..., "cpu_s":..., ...}
 *
 * cpu_s is the client's own user+system CPU time over the measured window
 * (getrusage), to show whether the client itself was the bottleneck.
 * Just before the window opens it prints {"event":"start"} so that a harness
 * can sample the server's CPU over the same window.
 *
 * Robust against partial reads and writes, frames split across reads, pings
 * (answered), server close frames and connection errors (counted); a hard
 * deadline (alarm) makes it exit whatever happens. Exit status: 0 if any
 * message was measured, 1 if none, 2 on bad arguments, 3 on the hard deadline.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define HANDSHAKE_TIMEOUT_S 10.0
#define MAX_HEADER 16384
#define HIST_LINEAR_US 100000 /* 1 us buckets up to 100 ms ... */
#define HIST_MS_BUCKETS 60000 /* ... then 1 ms buckets up to 60 s */
#define HIST_SIZE (HIST_LINEAR_US + HIST_MS_BUCKETS + 1)

enum { ST_CONNECTING, ST_HANDSHAKE, ST_READY, ST_OPEN, ST_DEAD };

typedef struct {
    int fd;
    int state;
    int want_out; /* EPOLLOUT registered */
    unsigned char *in;
    size_t in_len, in_cap;
    unsigned char *out;
    size_t out_off, out_len, out_cap;
    uint64_t *sent; /* FIFO of send times (ns), capacity depth */
    int head, count;
    char accept[32]; /* expected Sec-WebSocket-Accept */
    /* a message being reassembled from fragments */
    size_t frag_len;
    int in_frag;
    int frag_z;   /* the message being reassembled is compressed */
    int deflate;  /* permessage-deflate negotiated */
    z_stream *z;  /* its inflater (one context per connection) */
} conn_t;

static int g_depth;
static size_t g_size;
static unsigned char *g_frame; /* the pre-built masked message frame */
static size_t g_frame_len;
static int g_deflate;           /* offer permessage-deflate */
static unsigned char *g_zframe; /* the same message, compressed (RSV1) */
static size_t g_zframe_len;
static uint64_t g_deflate_conns, g_compressed_frames;
static const unsigned char MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

static uint64_t *g_hist;
static uint64_t g_messages, g_lat_sum_ns, g_lat_max_ns;
static struct {
    uint64_t connect, handshake, closed_by_server, reset, bad_frame, bad_length, inflate;
} g_err;

/* ------------------------------------------------------------------------------------- */
/* time, rusage, deadline                                                                 */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    *sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    return *user + *sys;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "{\"error\":\"hard deadline reached\",\"messages\":0,\"errors\":1}\n";
    ssize_t r = write(1, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
}

/* ------------------------------------------------------------------------------------- */
/* SHA-1 and base64, for Sec-WebSocket-Accept                                             */

typedef struct {
    uint32_t h[5];
    uint64_t len;
    unsigned char buf[64];
    size_t n;
} sha1_t;

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha1_block(sha1_t *s, const unsigned char *p) {
    uint32_t w[80], a, b, c, d, e, f, k, t;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 80; i++) {
        if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else f = b ^ c ^ d, k = 0xCA62C1D6;
        t = ROL(a, 5) + f + e + k + w[i];
        e = d, d = c, c = ROL(b, 30), b = a, a = t;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    sha1_t s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    s.len = (uint64_t)len * 8;
    while (len >= 64) sha1_block(&s, data), data += 64, len -= 64;
    memcpy(s.buf, data, len);
    s.n = len;
    s.buf[s.n++] = 0x80;
    if (s.n > 56) {
        memset(s.buf + s.n, 0, 64 - s.n);
        sha1_block(&s, s.buf);
        s.n = 0;
    }
    memset(s.buf + s.n, 0, 56 - s.n);
    for (int i = 0; i < 8; i++) s.buf[56 + i] = (unsigned char)(s.len >> (56 - 8 * i));
    sha1_block(&s, s.buf);
    for (int i = 0; i < 5; i++)
        out[4 * i] = s.h[i] >> 24, out[4 * i + 1] = s.h[i] >> 16, out[4 * i + 2] = s.h[i] >> 8, out[4 * i + 3] = s.h[i];
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0, o = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = T[v >> 18], out[o++] = T[(v >> 12) & 63], out[o++] = T[(v >> 6) & 63], out[o++] = T[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = T[v >> 18], out[o++] = T[(v >> 12) & 63];
        out[o++] = i + 1 < len ? T[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
}

/* ------------------------------------------------------------------------------------- */
/* buffers                                                                                */

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "wsload: out of memory\n");
        _exit(4);
    }
    return q;
}

static void out_append(conn_t *c, const unsigned char *p, size_t n) {
    if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) { /* compact first */
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + n) cap *= 2;
            c->out = xrealloc(c->out, cap);
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static int g_ep;

static void set_events(conn_t *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

static int g_open; /* connections in ST_OPEN */

static void kill_conn(conn_t *c) {
    if (c->state == ST_DEAD) return;
    if (c->state == ST_OPEN) g_open--;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = ST_DEAD;
}

/* Write what is pending; returns -1 if the connection died. */
static int flush_out(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, 1);
            return 0;
        } else {
            return -1;
        }
    }
    c->out_off = c->out_len = 0;
    set_events(c, 0);
    return 0;
}

/* Queue one message and remember its send time. */
static void send_message(conn_t *c, uint64_t t) {
    if (c->deflate) out_append(c, g_zframe, g_zframe_len);
    else out_append(c, g_frame, g_frame_len);
    c->sent[(c->head + c->count) % g_depth] = t;
    c->count++;
}

static void send_control(conn_t *c, int opcode, const unsigned char *payload, size_t n) {
    unsigned char f[6 + 125];
    if (n > 125) n = 125;
    f[0] = 0x80 | opcode;
    f[1] = 0x80 | (unsigned char)n;
    memcpy(f + 2, MASK, 4);
    for (size_t i = 0; i < n; i++) f[6 + i] = payload[i] ^ MASK[i & 3];
    out_append(c, f, 6 + n);
}

/* A masked FIN frame with this first byte and payload. */
static unsigned char *make_frame(unsigned char first, const unsigned char *payload, size_t size, size_t *len) {
    size_t hdr = size < 126 ? 2 : size < 65536 ? 4 : 10;
    *len = hdr + 4 + size;
    unsigned char *f = xrealloc(NULL, *len);
    f[0] = first;
    if (size < 126) {
        f[1] = 0x80 | (unsigned char)size;
    } else if (size < 65536) {
        f[1] = 0x80 | 126, f[2] = size >> 8, f[3] = size & 0xff;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) f[2 + i] = (unsigned char)((uint64_t)size >> (56 - 8 * i));
    }
    memcpy(f + hdr, MASK, 4);
    for (size_t i = 0; i < size; i++) f[hdr + 4 + i] = payload[i] ^ MASK[i & 3];
    return f;
}

static void build_frame(size_t size) {
    unsigned char *text = xrealloc(NULL, size + 1);
    for (size_t i = 0; i < size; i++) text[i] = (unsigned char)('a' + i % 26);
    g_frame = make_frame(0x81, text, size, &g_frame_len); /* FIN, text */
    if (g_deflate) {
        /* RFC 7692 7.2.1: raw deflate, sync flush, without the final 00 00 ff ff. */
        z_stream z = {0};
        uLong cap = deflateBound(&z, size) + 16;
        unsigned char *out = xrealloc(NULL, cap);
        if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) _exit(4);
        z.next_in = text, z.avail_in = (uInt)size, z.next_out = out, z.avail_out = (uInt)cap;
        if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in) _exit(4);
        size_t n = cap - z.avail_out;
        deflateEnd(&z);
        if (n >= 4 && memcmp(out + n - 4, "\x00\x00\xff\xff", 4) == 0) n -= 4;
        g_zframe = make_frame(0xC1, out, n, &g_zframe_len); /* FIN, RSV1, text */
        free(out);
    }
    free(text);
}

/* Inflate a compressed payload (tail: the 00 00 ff ff a message ends with); adds the bytes out. */
static int inflate_count(conn_t *c, const unsigned char *p, size_t n, size_t *out) {
    static unsigned char scratch[65536];
    z_stream *z = c->z;
    z->next_in = (unsigned char *)p, z->avail_in = (uInt)n;
    for (;;) {
        z->next_out = scratch, z->avail_out = sizeof scratch;
        int r = inflate(z, Z_SYNC_FLUSH);
        *out += sizeof scratch - z->avail_out;
        if (r == Z_STREAM_END) { /* a final block: the next message starts a new stream */
            inflateReset(z);
            if (!z->avail_in) return 0;
            continue;
        }
        if (r == Z_BUF_ERROR) return 0; /* no progress possible: all input used */
        if (r != Z_OK) return -1;
        if (!z->avail_in && z->avail_out) return 0;
    }
}

/* ------------------------------------------------------------------------------------- */
/* handshake                                                                              */

static void start_handshake(conn_t *c, const char *host, int port, const char *path) {
    unsigned char key[16], digest[20];
    char key64[32], buf[1024];
    for (int i = 0; i < 16; i++) key[i] = (unsigned char)(random() & 0xff);
    base64(key, 16, key64);
    snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key64);
    sha1((unsigned char *)buf, strlen(buf), digest);
    base64(digest, 20, c->accept);
    int n = snprintf(buf, sizeof buf,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, host, port, key64,
                     g_deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "");
    out_append(c, (unsigned char *)buf, (size_t)n);
    c->state = ST_HANDSHAKE;
}

/* Returns 1 when the handshake completed, 0 when more bytes are needed, -1 on failure. */
static int check_handshake(conn_t *c) {
    unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return c->in_len >= MAX_HEADER ? -1 : 0;
    size_t hlen = (size_t)(end - c->in) + 4;
    char *h = xrealloc(NULL, hlen + 1);
    memcpy(h, c->in, hlen);
    h[hlen] = 0;
    int ok = strncmp(h, "HTTP/1.1 101", 12) == 0;
    if (ok) {
        ok = 0;
        for (char *line = strstr(h, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
            char *p = line + 2;
            if (strncasecmp(p, "sec-websocket-accept:", 21) == 0) {
                p += 21;
                while (*p == ' ' || *p == '\t') p++;
                size_t n = strlen(c->accept);
                ok = strncmp(p, c->accept, n) == 0 && (p[n] == '\r' || p[n] == ' ' || p[n] == '\t');
            } else if (strncasecmp(p, "sec-websocket-extensions:", 25) == 0) {
                char *eol = strstr(p, "\r\n");
                size_t n = eol ? (size_t)(eol - p) : strlen(p);
                if (memmem(p, n, "permessage-deflate", 18)) c->deflate = 1;
            }
        }
        if (!ok) fprintf(stderr, "wsload: wrong or missing Sec-WebSocket-Accept\n");
    } else {
        char *eol = strstr(h, "\r\n");
        if (eol) *eol = 0;
        fprintf(stderr, "wsload: handshake answered %.80s\n", h);
    }
    free(h);
    if (!ok) return -1;
    if (c->deflate && !g_deflate) {
        fprintf(stderr, "wsload: the server negotiated permessage-deflate, which was not offered\n");
        return -1;
    }
    if (c->deflate) {
        c->z = calloc(1, sizeof *c->z);
        if (!c->z || inflateInit2(c->z, -15) != Z_OK) return -1;
        g_deflate_conns++;
    }
    memmove(c->in, c->in + hlen, c->in_len - hlen); /* frames may follow the head */
    c->in_len -= hlen;
    return 1;
}

/* ------------------------------------------------------------------------------------- */
/* frames                                                                                 */

static uint64_t g_t_measure, g_t_end;

static void record(conn_t *c, uint64_t t) {
    if (c->count == 0) { /* an echo nobody asked for */
        g_err.bad_frame++;
        return;
    }
    uint64_t sent = c->sent[c->head];
    c->head = (c->head + 1) % g_depth;
    c->count--;
    if (t >= g_t_measure && t < g_t_end) {
        uint64_t lat = t - sent, us = lat / 1000;
        size_t b = us < HIST_LINEAR_US ? us : HIST_LINEAR_US + (us - HIST_LINEAR_US) / 1000;
        if (b >= HIST_SIZE) b = HIST_SIZE - 1;
        g_hist[b]++;
        g_messages++;
        g_lat_sum_ns += lat;
        if (lat > g_lat_max_ns) g_lat_max_ns = lat;
    }
    if (t < g_t_end) send_message(c, t);
}

/* Parse every complete frame in the input buffer. Returns -1 if the connection must die. */
static int parse_frames(conn_t *c, uint64_t t) {
    size_t off = 0;
    int rc = 0;
    while (c->in_len - off >= 2) {
        unsigned char *p = c->in + off;
        size_t avail = c->in_len - off;
        int fin = p[0] & 0x80, opcode = p[0] & 0x0f, masked = p[1] & 0x80;
        uint64_t len = p[1] & 0x7f;
        size_t hdr = 2;
        int rsv1 = p[0] & 0x40;
        /* RSV bits: only RSV1, on the first frame of a message, with permessage-deflate */
        if ((p[0] & 0x30) || (rsv1 && !(c->deflate && (opcode == 0x1 || opcode == 0x2)))) {
            g_err.bad_frame++;
            rc = -1;
            break;
        }
        if (len == 126) {
            if (avail < 4) break;
            len = (uint64_t)p[2] << 8 | p[3];
            hdr = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            hdr = 10;
        }
        if (masked) hdr += 4;
        if (len > (64u << 20)) {
            g_err.bad_frame++;
            rc = -1;
            break;
        }
        if (avail < hdr + len) {
            if (c->in_cap < hdr + len) { /* a frame larger than the buffer: grow it */
                if (off) {
                    memmove(c->in, c->in + off, c->in_len - off);
                    c->in_len -= off;
                    off = 0;
                }
                c->in_cap = hdr + len;
                c->in = xrealloc(c->in, c->in_cap);
            }
            break;
        }
        unsigned char *payload = p + hdr;
        off += hdr + len;
        size_t got = len; /* the payload's size, inflated if compressed */
        switch (opcode) {
        case 0x1: /* text */
        case 0x2: /* binary */
            if (c->in_frag) {
                g_err.bad_frame++;
                return -1;
            }
            c->frag_z = rsv1 != 0;
            if (rsv1) {
                g_compressed_frames++;
                got = 0;
                if (inflate_count(c, payload, len, &got) < 0 ||
                    (fin && inflate_count(c, (const unsigned char *)"\x00\x00\xff\xff", 4, &got) < 0)) {
                    g_err.inflate++;
                    return -1;
                }
            }
            if (!fin) {
                c->in_frag = 1;
                c->frag_len = got;
                break;
            }
            if (got != g_size) g_err.bad_length++;
            record(c, t);
            break;
        case 0x0: /* continuation */
            if (!c->in_frag) {
                g_err.bad_frame++;
                return -1;
            }
            if (c->frag_z) {
                got = 0;
                if (inflate_count(c, payload, len, &got) < 0 ||
                    (fin && inflate_count(c, (const unsigned char *)"\x00\x00\xff\xff", 4, &got) < 0)) {
                    g_err.inflate++;
                    return -1;
                }
            }
            c->frag_len += got;
            if (fin) {
                c->in_frag = 0;
                if (c->frag_len != g_size) g_err.bad_length++;
                record(c, t);
            }
            break;
        case 0x8: /* close */
            if (t < g_t_end) g_err.closed_by_server++;
            send_control(c, 0x8, payload, len >= 2 ? 2 : 0);
            flush_out(c);
            rc = -1;
            goto done;
        case 0x9: /* ping */
            send_control(c, 0xA, payload, len);
            break;
        case 0xA: /* pong */
            break;
        default:
            g_err.bad_frame++;
            rc = -1;
            goto done;
        }
    }
done:
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------- */
/* events                                                                                 */

/* Read what is there (level-triggered: one read per wake-up is enough). */
static int read_some(conn_t *c) {
    if (c->in_len == c->in_cap) {
        c->in_cap *= 2;
        c->in = xrealloc(c->in, c->in_cap);
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n > 0) {
        c->in_len += (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    return -1; /* EOF or error */
}

static void handle(conn_t *c, uint32_t events, const char *host, int port, const char *path) {
    uint64_t t = now_ns();
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            g_err.connect++;
            kill_conn(c);
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN))) return;
        start_handshake(c, host, port, path);
        if (flush_out(c) < 0) {
            g_err.handshake++;
            kill_conn(c);
        }
        return;
    }
    if (events & EPOLLOUT) {
        if (flush_out(c) < 0) goto broken;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        int r = read_some(c);
        if (r < 0) goto broken;
        if (r == 0) return;
        if (c->state == ST_HANDSHAKE) {
            int h = check_handshake(c);
            if (h < 0) {
                g_err.handshake++;
                kill_conn(c);
                return;
            }
            if (h == 0) return;
            c->state = ST_READY;
            if (c->in_len == 0) return;
        }
        if (c->state == ST_OPEN || c->state == ST_READY) {
            if (parse_frames(c, t) < 0) {
                kill_conn(c);
                return;
            }
            if (c->out_len > c->out_off && flush_out(c) < 0) goto broken;
        }
    }
    return;
broken:
    if (c->state == ST_HANDSHAKE) g_err.handshake++;
    else if (t < g_t_end) g_err.reset++;
    kill_conn(c);
}

static size_t percentile_us(double q, uint64_t total) {
    if (!total) return 0;
    uint64_t want = (uint64_t)(q * (double)total), seen = 0;
    if (want >= total) want = total - 1;
    for (size_t b = 0; b < HIST_SIZE; b++) {
        seen += g_hist[b];
        if (seen > want) return b < HIST_LINEAR_US ? b : HIST_LINEAR_US + (b - HIST_LINEAR_US) * 1000;
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: wsload HOST PORT PATH CONNECTIONS DEPTH DURATION [SIZE [WARMUP [DEFLATE]]]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 7 || argc > 10) usage();
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), nconn = atoi(argv[4]);
    g_depth = atoi(argv[5]);
    double duration = atof(argv[6]);
    long size = argc > 7 ? atol(argv[7]) : 32;
    double warmup = argc > 8 ? atof(argv[8]) : 0.0;
    g_deflate = argc > 9 ? atoi(argv[9]) : 0;
    if (port <= 0 || port > 65535 || nconn < 1 || nconn > 100000 || g_depth < 1 || g_depth > 65536 ||
        duration <= 0 || size < 0 || size > (16l << 20) || warmup < 0 || path[0] != '/' ||
        (g_deflate != 0 && g_deflate != 1))
        usage();
    g_size = (size_t)size;

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
        if (getaddrinfo(host, NULL, &hints, &res) != 0) {
            fprintf(stderr, "wsload: cannot resolve %s\n", host);
            return 2;
        }
        addr.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(HANDSHAKE_TIMEOUT_S + warmup + duration + 10));
    srandom((unsigned)(now_ns() ^ (uint64_t)getpid()));
    build_frame(g_size);
    g_hist = calloc(HIST_SIZE, sizeof *g_hist);
    conn_t *conns = calloc((size_t)nconn, sizeof *conns);
    if (!g_hist || !conns) return 4;
    g_ep = epoll_create1(0);
    size_t in_cap = 65536;
    if (in_cap < 2 * (g_frame_len + 16)) in_cap = 2 * (g_frame_len + 16);

    /* Phase 1: connect and handshake every connection (bounded). */
    g_t_measure = g_t_end = UINT64_MAX;
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &conns[i];
        c->in_cap = in_cap;
        c->in = xrealloc(NULL, in_cap);
        c->sent = calloc((size_t)g_depth, sizeof *c->sent);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            g_err.connect++;
            c->state = ST_DEAD;
            continue;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->state = ST_CONNECTING;
        c->want_out = 1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
            g_err.connect++;
            close(c->fd);
            c->state = ST_DEAD;
            continue;
        }
        epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    struct epoll_event events[512];
    uint64_t hs_deadline = now_ns() + (uint64_t)(HANDSHAKE_TIMEOUT_S * 1e9);
    for (;;) {
        int pending = 0;
        for (int i = 0; i < nconn; i++) pending += conns[i].state == ST_CONNECTING || conns[i].state == ST_HANDSHAKE;
        uint64_t t = now_ns();
        if (!pending || t >= hs_deadline) break;
        int n = epoll_wait(g_ep, events, 512, (int)((hs_deadline - t) / 1000000) + 1);
        for (int i = 0; i < n; i++) handle(events[i].data.ptr, events[i].events, host, port, path);
    }
    int open = 0;
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &conns[i];
        if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) { /* timed out */
            g_err.handshake++;
            kill_conn(c);
        }
        if (c->state == ST_READY) open++;
    }

    /* Phase 2: load. Start every connection at once, DEPTH messages each. */
    uint64_t t0 = now_ns();
    g_t_measure = t0 + (uint64_t)(warmup * 1e9);
    g_t_end = g_t_measure + (uint64_t)(duration * 1e9);
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &conns[i];
        if (c->state != ST_READY) continue;
        c->state = ST_OPEN;
        g_open++;
        for (int k = 0; k < g_depth; k++) send_message(c, t0);
        if (parse_frames(c, t0) < 0 || flush_out(c) < 0) {
            g_err.reset++;
            kill_conn(c);
        }
    }
    int started = 0;
    double cpu0 = 0, u0 = 0, s0 = 0, cpu1, u1, s1;
    uint64_t tm0 = g_t_measure;
    for (;;) {
        uint64_t t = now_ns();
        if (!started && t >= g_t_measure) {
            started = 1;
            cpu0 = cpu_seconds(&u0, &s0);
            tm0 = t;
            printf("{\"event\":\"start\"}\n");
            fflush(stdout);
        }
        if (t >= g_t_end) break;
        if (!g_open) break;
        uint64_t until = started ? g_t_end : g_t_measure;
        int n = epoll_wait(g_ep, events, 512, (int)((until - t) / 1000000) + 1);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) handle(events[i].data.ptr, events[i].events, host, port, path);
    }
    uint64_t t1 = now_ns();
    if (t1 > g_t_end) t1 = g_t_end;
    if (!started) { /* every connection died before the window opened */
        cpu0 = cpu_seconds(&u0, &s0);
        tm0 = t1;
        printf("{\"event\":\"start\"}\n");
    }
    cpu1 = cpu_seconds(&u1, &s1);

    /* Close politely: a close frame (1000), then the socket. */
    int open_at_end = 0;
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &conns[i];
        if (c->state != ST_OPEN) continue;
        open_at_end++;
        static const unsigned char code[2] = {0x03, 0xe8};
        c->out_off = c->out_len = 0; /* drop unsent messages */
        send_control(c, 0x8, code, 2);
        send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(c->fd, SHUT_WR);
    }
    for (int i = 0; i < nconn; i++)
        if (conns[i].state == ST_OPEN) kill_conn(&conns[i]);

    double secs = (double)(t1 - tm0) / 1e9;
    if (secs <= 0) secs = 1e-9;
    uint64_t errors = g_err.connect + g_err.handshake + g_err.closed_by_server + g_err.reset + g_err.bad_frame +
                      g_err.bad_length + g_err.inflate;
    printf("{\"messages\":%llu,\"seconds\":%.6f,\"messages_per_s\":%.1f,"
           "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"mean_ms\":%.3f,\"max_ms\":%.3f,"
           "\"errors\":%llu,\"connect_errors\":%llu,\"handshake_errors\":%llu,\"closed_by_server\":%llu,"
           "\"reset\":%llu,\"bad_frames\":%llu,\"bad_length\":%llu,\"inflate_errors\":%llu,"
           "\"deflate\":%d,\"deflate_connections\":%llu,\"compressed_frames\":%llu,"
           "\"connections\":%d,\"connections_open\":%d,\"connections_open_at_end\":%d,\"depth\":%d,\"size\":%zu,"
           "\"cpu_s\":%.4f,\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,\"cpu_pct\":%.1f}\n",
           (unsigned long long)g_messages, secs, g_messages / secs, percentile_us(0.50, g_messages) / 1e3,
           percentile_us(0.90, g_messages) / 1e3, percentile_us(0.99, g_messages) / 1e3,
           percentile_us(0.999, g_messages) / 1e3, g_messages ? g_lat_sum_ns / 1e6 / g_messages : 0.0,
           g_lat_max_ns / 1e6, (unsigned long long)errors, (unsigned long long)g_err.connect,
           (unsigned long long)g_err.handshake, (unsigned long long)g_err.closed_by_server,
           (unsigned long long)g_err.reset, (unsigned long long)g_err.bad_frame, (unsigned long long)g_err.bad_length,
           (unsigned long long)g_err.inflate, g_deflate, (unsigned long long)g_deflate_conns,
           (unsigned long long)g_compressed_frames,
           nconn, open, open_at_end, g_depth, g_size, cpu1 - cpu0, u1 - u0, s1 - s0, 100 * (cpu1 - cpu0) / secs);
    fflush(stdout);
    return g_messages ? 0 : 1;
}
