/*
 * The stack agent: socket calls on request, for stacks that cannot host Python.
 *
 * Theory of operation. The suite (conformance/backends/agent.py) writes one
 * request per line on stdin and reads one reply per line on stdout. Every
 * request runs on a thread of its own, so a call that blocks (accept, recv)
 * blocks only itself, and replies are written whole, one at a time, in the
 * order the calls finish; the request id ties a reply to its request.
 *
 *   request: <id> <op> <arg>...      reply: <id> ok <value>...
 *                                           <id> err <errno number>
 *                                           <id> unsupported <reason words>
 *
 * Addresses travel as three words, "<family> <host> <port>" (a unix path is
 * hex, port 0); data as hex ("-" when empty); message flags and socket
 * options by name, mapped here to this stack's numbers: a name the stack's
 * headers lack is "unsupported", never a guess. Errno numbers are the
 * stack's own (errno space named in the hello reply: posix or winsock); the
 * suite turns them into names.
 *
 * One source, three builds:
 *   gcc agent.c -lpthread                          the host's libc (self-test)
 *   gcc -DAGENT_LWIP -I/usr/include/lwip agent.c -llwip -lpthread
 *                                                  lwIP, loopback netif in-process
 *   x86_64-w64-mingw32-gcc agent.c -lws2_32        Winsock (run under Wine)
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <afunix.h>
#include <fcntl.h>
#include <io.h>
#include <process.h>
typedef SOCKET sock_t;
typedef int socklen_t;
#define STACK_NAME "winsock"
#define ERRNO_SPACE "winsock"
#define LAST_ERROR() WSAGetLastError()
#define BAD_SOCKET(s) ((s) == INVALID_SOCKET)
#define S_SOCKET socket
#define S_BIND bind
#define S_LISTEN listen
#define S_ACCEPT accept
#define S_CONNECT connect
#define S_SEND(s, b, n, f) send(s, (const char *)(b), (int)(n), f)
#define S_SENDTO(s, b, n, f, a, l) sendto(s, (const char *)(b), (int)(n), f, a, l)
#define S_RECV(s, b, n, f) recv(s, (char *)(b), (int)(n), f)
#define S_RECVFROM(s, b, n, f, a, l) recvfrom(s, (char *)(b), (int)(n), f, a, l)
#define S_GETSOCKNAME getsockname
#define S_GETPEERNAME getpeername
#define S_SHUTDOWN shutdown
#define S_CLOSE closesocket
#define S_SETSOCKOPT(s, l, o, v, n) setsockopt(s, l, o, (const char *)(v), n)
#define S_GETSOCKOPT(s, l, o, v, n) getsockopt(s, l, o, (char *)(v), n)
#define SHUT_RD SD_RECEIVE
#define SHUT_WR SD_SEND
#define SHUT_RDWR SD_BOTH
#else
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#if defined(AGENT_LWIP)
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/sockets.h"
#include "lwip/tcpip.h"
#include <sys/un.h>
#define STACK_NAME "lwip"
#define S_SOCKET lwip_socket
#define S_BIND lwip_bind
#define S_LISTEN lwip_listen
#define S_ACCEPT lwip_accept
#define S_CONNECT lwip_connect
#define S_SEND lwip_send
#define S_SENDTO lwip_sendto
#define S_RECV lwip_recv
#define S_RECVFROM lwip_recvfrom
#define S_GETSOCKNAME lwip_getsockname
#define S_GETPEERNAME lwip_getpeername
#define S_SHUTDOWN lwip_shutdown
#define S_CLOSE lwip_close
#define S_SETSOCKOPT lwip_setsockopt
#define S_GETSOCKOPT lwip_getsockopt
#define S_POLL lwip_poll
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#define STACK_NAME "libc"
#define S_SOCKET socket
#define S_BIND bind
#define S_LISTEN listen
#define S_ACCEPT accept
#define S_CONNECT connect
#define S_SEND send
#define S_SENDTO sendto
#define S_RECV recv
#define S_RECVFROM recvfrom
#define S_GETSOCKNAME getsockname
#define S_GETPEERNAME getpeername
#define S_SHUTDOWN shutdown
#define S_CLOSE close
#define S_SETSOCKOPT setsockopt
#define S_GETSOCKOPT getsockopt
#define S_POLL poll
#endif
typedef int sock_t;
#define ERRNO_SPACE "posix"
#define LAST_ERROR() errno
#define BAD_SOCKET(s) ((s) < 0)
#endif

/* ---- replies ---------------------------------------------------------- */

#if defined(_WIN32)
static CRITICAL_SECTION out_lock;
#define OUT_LOCK() EnterCriticalSection(&out_lock)
#define OUT_UNLOCK() LeaveCriticalSection(&out_lock)
#else
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
#define OUT_LOCK() pthread_mutex_lock(&out_lock)
#define OUT_UNLOCK() pthread_mutex_unlock(&out_lock)
#endif

/* A reply is built in a growable buffer and written with one fwrite. */
struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
}

static void put_hex(struct buf *b, const unsigned char *data, size_t n) {
    static const char digits[] = "0123456789abcdef";
    if (n == 0) {
        put(b, " -");
        return;
    }
    if (b->cap - b->len < 2 * n + 2) {
        b->cap = b->len + 2 * n + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    b->p[b->len++] = ' ';
    for (size_t i = 0; i < n; i++) {
        b->p[b->len++] = digits[data[i] >> 4];
        b->p[b->len++] = digits[data[i] & 15];
    }
    b->p[b->len] = 0;
}

static void send_reply(struct buf *b) {
    OUT_LOCK();
    fwrite(b->p, 1, b->len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    OUT_UNLOCK();
    free(b->p);
}

/* ---- parsing ---------------------------------------------------------- */

struct req {
    char *line;
    char *words[16];
    int n;
    struct buf out;
};

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes hex in place; "-" is empty. Returns the length, or -1. */
static long unhex(char *s) {
    if (strcmp(s, "-") == 0) return 0;
    size_t n = strlen(s);
    if (n % 2) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        s[i] = (char)(hi * 16 + lo);
    }
    return (long)(n / 2);
}

/* ---- names -> this stack's numbers -------------------------------------- */

struct named {
    const char *name;
    int level, value;
};

#define F(name) {#name, 0, name}
static const struct named msg_flags[] = {
#ifdef MSG_PEEK
    F(MSG_PEEK),
#endif
#ifdef MSG_OOB
    F(MSG_OOB),
#endif
#ifdef MSG_DONTROUTE
    F(MSG_DONTROUTE),
#endif
#ifdef MSG_WAITALL
    F(MSG_WAITALL),
#endif
#ifdef MSG_DONTWAIT
    F(MSG_DONTWAIT),
#endif
#ifdef MSG_NOSIGNAL
    F(MSG_NOSIGNAL),
#endif
#ifdef MSG_TRUNC
    F(MSG_TRUNC),
#endif
#ifdef MSG_CTRUNC
    F(MSG_CTRUNC),
#endif
#ifdef MSG_MORE
    F(MSG_MORE),
#endif
#ifdef MSG_EOR
    F(MSG_EOR),
#endif
#ifdef MSG_CONFIRM
    F(MSG_CONFIRM),
#endif
#ifdef MSG_ERRQUEUE
    F(MSG_ERRQUEUE),
#endif
#ifdef MSG_PUSH_IMMEDIATE
    F(MSG_PUSH_IMMEDIATE),
#endif
    {0, 0, 0}};

#define O(level, name) {#name, level, name}
static const struct named options[] = {
#ifdef SO_REUSEADDR
    O(SOL_SOCKET, SO_REUSEADDR),
#endif
#ifdef SO_REUSEPORT
    O(SOL_SOCKET, SO_REUSEPORT),
#endif
#ifdef SO_EXCLUSIVEADDRUSE
    O(SOL_SOCKET, SO_EXCLUSIVEADDRUSE),
#endif
#ifdef SO_KEEPALIVE
    O(SOL_SOCKET, SO_KEEPALIVE),
#endif
#ifdef SO_BROADCAST
    O(SOL_SOCKET, SO_BROADCAST),
#endif
#ifdef SO_LINGER
    O(SOL_SOCKET, SO_LINGER),
#endif
#ifdef SO_DONTLINGER
    O(SOL_SOCKET, SO_DONTLINGER),
#endif
#ifdef SO_RCVBUF
    O(SOL_SOCKET, SO_RCVBUF),
#endif
#ifdef SO_SNDBUF
    O(SOL_SOCKET, SO_SNDBUF),
#endif
#ifdef SO_RCVTIMEO
    O(SOL_SOCKET, SO_RCVTIMEO),
#endif
#ifdef SO_SNDTIMEO
    O(SOL_SOCKET, SO_SNDTIMEO),
#endif
#ifdef SO_RCVLOWAT
    O(SOL_SOCKET, SO_RCVLOWAT),
#endif
#ifdef SO_SNDLOWAT
    O(SOL_SOCKET, SO_SNDLOWAT),
#endif
#ifdef SO_ERROR
    O(SOL_SOCKET, SO_ERROR),
#endif
#ifdef SO_TYPE
    O(SOL_SOCKET, SO_TYPE),
#endif
#ifdef SO_ACCEPTCONN
    O(SOL_SOCKET, SO_ACCEPTCONN),
#endif
#ifdef SO_OOBINLINE
    O(SOL_SOCKET, SO_OOBINLINE),
#endif
#ifdef SO_DONTROUTE
    O(SOL_SOCKET, SO_DONTROUTE),
#endif
#ifdef TCP_NODELAY
    O(IPPROTO_TCP, TCP_NODELAY),
#endif
#ifdef TCP_KEEPIDLE
    O(IPPROTO_TCP, TCP_KEEPIDLE),
#endif
#ifdef TCP_KEEPINTVL
    O(IPPROTO_TCP, TCP_KEEPINTVL),
#endif
#ifdef TCP_KEEPCNT
    O(IPPROTO_TCP, TCP_KEEPCNT),
#endif
#ifdef TCP_MAXSEG
    O(IPPROTO_TCP, TCP_MAXSEG),
#endif
#ifdef IP_TTL
    O(IPPROTO_IP, IP_TTL),
#endif
#ifdef IP_TOS
    O(IPPROTO_IP, IP_TOS),
#endif
#ifdef IP_MULTICAST_TTL
    O(IPPROTO_IP, IP_MULTICAST_TTL),
#endif
#ifdef IP_MULTICAST_LOOP
    O(IPPROTO_IP, IP_MULTICAST_LOOP),
#endif
#ifdef IPV6_V6ONLY
    O(IPPROTO_IPV6, IPV6_V6ONLY),
#endif
#ifdef IPV6_UNICAST_HOPS
    O(IPPROTO_IPV6, IPV6_UNICAST_HOPS),
#endif
    {0, 0, 0}};

static const struct named *lookup(const struct named *table, const char *name) {
    for (; table->name; table++)
        if (strcmp(table->name, name) == 0) return table;
    return NULL;
}

/* The next word of *s ended by sep (cut there), or NULL; strtok is not thread-safe. */
static char *next_word(char **s, char sep) {
    while (**s == sep) (*s)++;
    if (!**s) return NULL;
    char *word = *s, *end = strchr(word, sep);
    if (end) {
        *end = 0;
        *s = end + 1;
    } else {
        *s = word + strlen(word);
    }
    return word;
}

/* "MSG_PEEK,MSG_DONTWAIT" (or "-") -> bits; 0 and the missing name on failure. */
static int flag_bits(char *list, int *bits, const char **missing) {
    *bits = 0;
    if (strcmp(list, "-") == 0) return 1;
    for (char *name; (name = next_word(&list, ',')) != NULL;) {
        const struct named *f = lookup(msg_flags, name);
        if (!f) {
            *missing = name;
            return 0;
        }
        *bits |= f->value;
    }
    return 1;
}

/* ---- addresses -------------------------------------------------------- */

static int family_number(const char *name) {
    if (strcmp(name, "inet") == 0) return AF_INET;
    if (strcmp(name, "inet6") == 0) return AF_INET6;
#ifdef AF_UNIX
    if (strcmp(name, "unix") == 0) return AF_UNIX;
#endif
    if (name[0] == '#') return atoi(name + 1);
    return -1;
}

static int type_number(const char *name) {
    if (strcmp(name, "stream") == 0) return SOCK_STREAM;
    if (strcmp(name, "dgram") == 0) return SOCK_DGRAM;
    if (name[0] == '#') return atoi(name + 1);
    return -1;
}

/* Three words -> a sockaddr; returns its length, 0 for an unknown family, -1 bad text. */
static int pack_addr(char **w, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (strcmp(w[0], "inet") == 0) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((unsigned short)atoi(w[2]));
        if (inet_pton(AF_INET, w[1], &a->sin_addr) != 1) return -1;
        return sizeof *a;
    }
    if (strcmp(w[0], "inet6") == 0) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((unsigned short)atoi(w[2]));
        if (inet_pton(AF_INET6, w[1], &a->sin6_addr) != 1) return -1;
        return sizeof *a;
    }
#ifdef AF_UNIX
    if (strcmp(w[0], "unix") == 0) {
        struct sockaddr_un *a = (struct sockaddr_un *)ss;
        long n = unhex(w[1]);
        if (n < 0 || (size_t)n >= sizeof a->sun_path) return -1;
        a->sun_family = AF_UNIX;
        memcpy(a->sun_path, w[1], (size_t)n);
        a->sun_path[n] = 0;
        return (int)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    }
#endif
    return 0;
}

/* " <len> <family> <host> <port>", or " 0 none" for an empty address. */
static void put_addr(struct buf *b, const struct sockaddr_storage *ss, socklen_t len) {
    char host[64];
    put(b, " %d", (int)len);
    if (len < 2) {
        put(b, " none - 0");
        return;
    }
    int af = ((const struct sockaddr *)ss)->sa_family;
    if (af == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, (void *)&a->sin_addr, host, sizeof host);
        put(b, " inet %s %d", host, ntohs(a->sin_port));
    } else if (af == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, (void *)&a->sin6_addr, host, sizeof host);
        put(b, " inet6 %s %d", host, ntohs(a->sin6_port));
#ifdef AF_UNIX
    } else if (af == AF_UNIX) {
        const struct sockaddr_un *a = (const struct sockaddr_un *)ss;
        size_t max = (size_t)len - offsetof(struct sockaddr_un, sun_path);
        put(b, " unix");
        put_hex(b, (const unsigned char *)a->sun_path, strnlen(a->sun_path, max));
        put(b, " 0");
#endif
    } else if (af == AF_UNSPEC) {
        put(b, " none - 0");
    } else {
        put(b, " af%d - 0", af);
    }
}

/* ---- the stack -------------------------------------------------------- */

#if defined(AGENT_LWIP)
static struct netif loop_netif;

static err_t loop_out4(struct netif *n, struct pbuf *p, const ip4_addr_t *dst) {
    (void)dst;
    return netif_loop_output(n, p);
}

static err_t loop_out6(struct netif *n, struct pbuf *p, const ip6_addr_t *dst) {
    (void)dst;
    return netif_loop_output(n, p);
}

static err_t loop_init(struct netif *n) {
    n->name[0] = 'l';
    n->name[1] = 'o';
    n->output = loop_out4;
    n->output_ip6 = loop_out6;
    return ERR_OK;
}

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready;

static void tcpip_ready(void *arg) {
    (void)arg;
    pthread_mutex_lock(&ready_lock);
    ready = 1;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
}

/* lwIP's tcpip thread, and one interface that loops back 127.0.0.1/8 and ::1. */
static void stack_start(void) {
    tcpip_init(tcpip_ready, NULL);
    pthread_mutex_lock(&ready_lock);
    while (!ready) pthread_cond_wait(&ready_cond, &ready_lock);
    pthread_mutex_unlock(&ready_lock);
    ip4_addr_t ip, mask, gw;
    IP4_ADDR(&ip, 127, 0, 0, 1);
    IP4_ADDR(&mask, 255, 0, 0, 0);
    IP4_ADDR(&gw, 0, 0, 0, 0);
    ip6_addr_t ip6;
    ip6_addr_set_loopback(&ip6);
    LOCK_TCPIP_CORE();
    netif_add(&loop_netif, &ip, &mask, &gw, NULL, loop_init, tcpip_input);
    netif_ip6_addr_set(&loop_netif, 0, &ip6);
    netif_ip6_addr_set_state(&loop_netif, 0, IP6_ADDR_PREFERRED);
    netif_set_default(&loop_netif);
    netif_set_up(&loop_netif);
    netif_set_link_up(&loop_netif);
    UNLOCK_TCPIP_CORE();
}

static void put_build(struct buf *b) {
    put(b, " version=%s build=debian-lwipopts:NO_SYS=%d,SO_REUSE=%d,LWIP_SO_RCVTIMEO=%d,"
        "LWIP_IPV6=%d,LWIP_NETIF_LOOPBACK=%d,LWIP_HAVE_LOOPIF=%d",
        LWIP_VERSION_STRING, NO_SYS, SO_REUSE, LWIP_SO_RCVTIMEO, LWIP_IPV6,
        LWIP_NETIF_LOOPBACK, LWIP_HAVE_LOOPIF);
}
#elif defined(_WIN32)
static void stack_start(void) {
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        fprintf(stderr, "agent: WSAStartup failed\n");
        exit(3);
    }
}

static void put_build(struct buf *b) {
    /* Wine exports wine_get_version from ntdll; Windows itself does not. */
    const char *(CDECL *wine_version)(void) = (const char *(CDECL *)(void))(void *)
        GetProcAddress(GetModuleHandleA("ntdll.dll"), "wine_get_version");
    OSVERSIONINFOA v;
    memset(&v, 0, sizeof v);
    v.dwOSVersionInfoSize = sizeof v;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    GetVersionExA(&v);
#pragma GCC diagnostic pop
    put(b, " version=%s build=windows-%lu.%lu.%lu,winsock-2.2", wine_version ? wine_version() : "none",
        v.dwMajorVersion, v.dwMinorVersion, v.dwBuildNumber);
}
#else
static void stack_start(void) {}

static void put_build(struct buf *b) {
    struct utsname u;
    uname(&u);
    put(b, " version=%s build=%s-%s", u.release, u.sysname, u.machine);
}
#endif

static int set_nonblocking(sock_t s, int on) {
#if defined(_WIN32)
    u_long v = (u_long)on;
    return ioctlsocket(s, FIONBIO, &v);
#elif defined(AGENT_LWIP)
    int v = on;
    return lwip_ioctl(s, FIONBIO, &v);
#else
    int fl = fcntl(s, F_GETFL, 0);
    if (fl < 0) return -1;
    return fcntl(s, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
#endif
}

/* 1 or 0; -1 with the errno; -2 where the stack has no way to read the mode. */
static int is_nonblocking(sock_t s) {
#if defined(_WIN32)
    (void)s;
    return -2;
#elif defined(AGENT_LWIP)
    int fl = lwip_fcntl(s, F_GETFL, 0);
    return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
#else
    int fl = fcntl(s, F_GETFL, 0);
    return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
#endif
}

static int do_poll(struct pollfd *fds, int n, int ms) {
#if defined(_WIN32)
    return WSAPoll((WSAPOLLFD *)fds, (ULONG)n, ms);
#else
    return S_POLL(fds, (nfds_t)n, ms);
#endif
}

/* Whether the calling thread was sent SIGPIPE (taken, so it never acts).
 * Every thread runs with SIGPIPE blocked and a handler installed (an ignored
 * signal would be discarded), so a raised one stays pending until taken here. */
static int took_sigpipe(void) {
#if defined(_WIN32)
    return 0;
#else
    sigset_t pending, pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    if (sigpending(&pending) != 0 || !sigismember(&pending, SIGPIPE)) return 0;
    struct timespec now = {0, 0};
    sigtimedwait(&pipe_only, NULL, &now);
    return 1;
#endif
}

/* ---- operations ------------------------------------------------------- */

#define NEED(k)                                    \
    do {                                           \
        if (r->n < (k)) {                          \
            put(&r->out, " unsupported malformed request"); \
            return;                                \
        }                                          \
    } while (0)
#define FAIL()                                     \
    do {                                           \
        put(&r->out, " err %d", (int)LAST_ERROR()); \
        return;                                    \
    } while (0)

static sock_t fd_of(const char *w) { return (sock_t)strtoull(w, NULL, 10); }

static void op_hello(struct req *r) {
    put(&r->out, " ok stack=%s errno=%s", STACK_NAME, ERRNO_SPACE);
    put_build(&r->out);
}

static void op_socket(struct req *r) {
    NEED(4);
    int af = family_number(r->words[2]), type = type_number(r->words[3]);
    if (af < 0 || type < 0) {
        put(&r->out, " unsupported no such family or type in this stack's headers");
        return;
    }
    sock_t s = S_SOCKET(af, type, 0);
    if (BAD_SOCKET(s)) FAIL();
    put(&r->out, " ok %llu", (unsigned long long)s);
}

static void op_bind_connect(struct req *r, int to_peer) {
    NEED(6);
    struct sockaddr_storage ss;
    int len = pack_addr(r->words + 3, &ss);
    if (len <= 0) {
        put(&r->out, " unsupported family %s has no address form in this stack", r->words[3]);
        return;
    }
    sock_t s = fd_of(r->words[2]);
    int rc = to_peer ? S_CONNECT(s, (struct sockaddr *)&ss, len)
                     : S_BIND(s, (struct sockaddr *)&ss, len);
    if (rc != 0) FAIL();
    put(&r->out, " ok");
}

static void op_connect_unspec(struct req *r) {
    NEED(3);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNSPEC;
    if (S_CONNECT(fd_of(r->words[2]), (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) != 0)
        FAIL();
    put(&r->out, " ok");
}

static void op_listen(struct req *r) {
    NEED(4);
    if (S_LISTEN(fd_of(r->words[2]), atoi(r->words[3])) != 0) FAIL();
    put(&r->out, " ok");
}

static void op_accept(struct req *r) {
    NEED(3);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    sock_t c = S_ACCEPT(fd_of(r->words[2]), (struct sockaddr *)&ss, &len);
    if (BAD_SOCKET(c)) FAIL();
    put(&r->out, " ok %llu", (unsigned long long)c);
    put_addr(&r->out, &ss, len);
}

static int flags_or_reply(struct req *r, char *list, int *bits) {
    const char *missing = NULL;
    if (flag_bits(list, bits, &missing)) return 1;
    put(&r->out, " unsupported %s is not defined by this stack", missing);
    return 0;
}

/* send <fd> <flags> <hex> ; sendto <fd> <flags> <family|none> <host> <port> <hex> */
static void op_send(struct req *r, int to) {
    NEED(to ? 8 : 5);
    int bits;
    if (!flags_or_reply(r, r->words[3], &bits)) return;
    char *hex = r->words[to ? 7 : 4];
    long n = unhex(hex);
    if (n < 0) {
        put(&r->out, " unsupported malformed data");
        return;
    }
    sock_t s = fd_of(r->words[2]);
    long got;
    if (!to) {
        got = (long)S_SEND(s, hex, (size_t)n, bits);
    } else if (strcmp(r->words[4], "none") == 0) {
        got = (long)S_SENDTO(s, hex, (size_t)n, bits, NULL, 0);
    } else {
        struct sockaddr_storage ss;
        int len = pack_addr(r->words + 4, &ss);
        if (len <= 0) {
            put(&r->out, " unsupported family %s has no address form", r->words[4]);
            return;
        }
        got = (long)S_SENDTO(s, hex, (size_t)n, bits, (struct sockaddr *)&ss, len);
    }
    int err = LAST_ERROR();
    const char *signalled = took_sigpipe() ? " sigpipe" : "";
    if (got < 0)
        put(&r->out, " err %d%s", err, signalled);
    else
        put(&r->out, " ok %ld%s", got, signalled);
}

/* recv <fd> <n> <flags> ; recvfrom <fd> <n> <flags> <want address 0|1> */
static void op_recv(struct req *r, int from) {
    NEED(from ? 6 : 5);
    int bits;
    if (!flags_or_reply(r, r->words[4], &bits)) return;
    size_t n = (size_t)strtoul(r->words[3], NULL, 10);
    unsigned char *data = malloc(n ? n : 1);
    if (!data) abort();
    sock_t s = fd_of(r->words[2]);
    long got;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (!from)
        got = (long)S_RECV(s, data, n, bits);
    else if (strcmp(r->words[5], "1") == 0)
        got = (long)S_RECVFROM(s, data, n, bits, (struct sockaddr *)&ss, &len);
    else
        got = (long)S_RECVFROM(s, data, n, bits, NULL, NULL);
    if (got < 0) {
        free(data);
        FAIL();
    }
    /* With MSG_TRUNC Linux returns the datagram's real length, which may exceed n. */
    put(&r->out, " ok %ld", got);
    put_hex(&r->out, data, (size_t)got < n ? (size_t)got : n);
    if (from) {
        if (strcmp(r->words[5], "1") == 0)
            put_addr(&r->out, &ss, len);
        else
            put(&r->out, " 0 none - 0");
    }
    free(data);
}

/* recvmsg <fd> <n> -> ok <got> <hex> <truncated 0|1>; Winsock reports a cut
 * datagram as WSAEMSGSIZE from recv() instead, so there it is a plain recv(). */
static void op_recvmsg(struct req *r) {
    NEED(4);
    size_t n = (size_t)strtoul(r->words[3], NULL, 10);
    unsigned char *data = malloc(n ? n : 1);
    if (!data) abort();
    sock_t s = fd_of(r->words[2]);
    long got;
    int trunc = 0;
#if defined(_WIN32)
    got = (long)S_RECV(s, data, n, 0);
#else
    struct iovec iov = {data, n};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
#if defined(AGENT_LWIP)
    got = (long)lwip_recvmsg(s, &m, 0);
#else
    got = (long)recvmsg(s, &m, 0);
#endif
    trunc = (m.msg_flags & MSG_TRUNC) != 0;
#endif
    if (got < 0) {
        free(data);
        FAIL();
    }
    /* lwIP's recvmsg returns a UDP datagram's whole length, past the buffer. */
    put(&r->out, " ok %ld", got);
    put_hex(&r->out, data, (size_t)got < n ? (size_t)got : n);
    put(&r->out, " %d", trunc);
    free(data);
}

static void op_name(struct req *r, int peer) {
    NEED(3);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    sock_t s = fd_of(r->words[2]);
    int rc = peer ? S_GETPEERNAME(s, (struct sockaddr *)&ss, &len)
                  : S_GETSOCKNAME(s, (struct sockaddr *)&ss, &len);
    if (rc != 0) FAIL();
    put(&r->out, " ok");
    put_addr(&r->out, &ss, len);
}

static void op_shutdown(struct req *r) {
    NEED(4);
    const char *h = r->words[3];
    int how = strcmp(h, "rd") == 0 ? SHUT_RD : strcmp(h, "wr") == 0 ? SHUT_WR : SHUT_RDWR;
    if (S_SHUTDOWN(fd_of(r->words[2]), how) != 0) FAIL();
    put(&r->out, " ok");
}

static void op_nonblock(struct req *r) {
    NEED(4);
    if (set_nonblocking(fd_of(r->words[2]), atoi(r->words[3])) != 0) FAIL();
    put(&r->out, " ok");
}

static void op_isnonblock(struct req *r) {
    NEED(3);
    int v = is_nonblocking(fd_of(r->words[2]));
    if (v == -2) {
        put(&r->out, " unsupported this stack has no call that reads the non-blocking mode");
        return;
    }
    if (v < 0) FAIL();
    put(&r->out, " ok %d", v);
}

/* setsockopt <fd> <NAME> <int> [<int>] ; SO_LINGER takes (on, seconds). */
static void op_sockopt(struct req *r, int set) {
    NEED(set ? 5 : 4);
    const struct named *o = lookup(options, r->words[3]);
    if (!o) {
        put(&r->out, " unsupported socket option %s is not defined by this stack", r->words[3]);
        return;
    }
    sock_t s = fd_of(r->words[2]);
#ifdef SO_LINGER
    if (strcmp(o->name, "SO_LINGER") == 0) {
        struct linger l;
        socklen_t len = sizeof l;
        memset(&l, 0, sizeof l);
        if (set) {
            NEED(6);
            l.l_onoff = (unsigned short)atoi(r->words[4]);
            l.l_linger = (unsigned short)atoi(r->words[5]);
            if (S_SETSOCKOPT(s, o->level, o->value, &l, sizeof l) != 0) FAIL();
            put(&r->out, " ok");
        } else {
            if (S_GETSOCKOPT(s, o->level, o->value, &l, &len) != 0) FAIL();
            put(&r->out, " ok %d", l.l_onoff ? 1 : 0);
        }
        return;
    }
#endif
    if (strcmp(o->name, "SO_RCVTIMEO") == 0 || strcmp(o->name, "SO_SNDTIMEO") == 0) {
        /* (seconds, microseconds): a struct timeval; Winsock takes a DWORD of milliseconds. */
#if defined(_WIN32)
        DWORD t = 0;
        socklen_t len = sizeof t;
        if (set) {
            NEED(6);
            t = (DWORD)(atol(r->words[4]) * 1000 + atol(r->words[5]) / 1000);
            if (S_SETSOCKOPT(s, o->level, o->value, &t, sizeof t) != 0) FAIL();
            put(&r->out, " ok");
        } else {
            if (S_GETSOCKOPT(s, o->level, o->value, &t, &len) != 0) FAIL();
            put(&r->out, " ok %lu", (unsigned long)(t / 1000));
        }
#else
        struct timeval t;
        socklen_t len = sizeof t;
        memset(&t, 0, sizeof t);
        if (set) {
            NEED(6);
            t.tv_sec = atol(r->words[4]);
            t.tv_usec = atol(r->words[5]);
            if (S_SETSOCKOPT(s, o->level, o->value, &t, sizeof t) != 0) FAIL();
            put(&r->out, " ok");
        } else {
            if (S_GETSOCKOPT(s, o->level, o->value, &t, &len) != 0) FAIL();
            put(&r->out, " ok %ld", (long)t.tv_sec);
        }
#endif
        return;
    }
    int v = set ? atoi(r->words[4]) : 0;
    socklen_t len = sizeof v;
    if (set) {
        if (S_SETSOCKOPT(s, o->level, o->value, &v, sizeof v) != 0) FAIL();
        put(&r->out, " ok");
    } else {
        if (S_GETSOCKOPT(s, o->level, o->value, &v, &len) != 0) FAIL();
        put(&r->out, " ok %d", v);
    }
}

static void op_close(struct req *r) {
    NEED(3);
    if (S_CLOSE(fd_of(r->words[2])) != 0) FAIL();
    put(&r->out, " ok");
}

/* poll <ms> <fd>:<r|w|rw>... -> ok <fd>:<revents letters>... (r, w, e, h, n) */
static void op_poll(struct req *r) {
    NEED(3);
    int n = r->n - 3;
    struct pollfd fds[13];
    for (int i = 0; i < n; i++) {
        char *w = r->words[3 + i], *colon = strchr(w, ':');
        if (!colon) {
            put(&r->out, " unsupported malformed poll entry");
            return;
        }
        *colon = 0;
        fds[i].fd = fd_of(w);
        fds[i].events = (short)((strchr(colon + 1, 'r') ? POLLIN : 0) |
                                (strchr(colon + 1, 'w') ? POLLOUT : 0));
        fds[i].revents = 0;
    }
    if (do_poll(fds, n, atoi(r->words[2])) < 0) FAIL();
    put(&r->out, " ok");
    for (int i = 0; i < n; i++) {
        short e = fds[i].revents;
        put(&r->out, " %llu:%s%s%s%s%s-", (unsigned long long)fds[i].fd, (e & POLLIN) ? "r" : "",
            (e & POLLOUT) ? "w" : "", (e & POLLERR) ? "e" : "", (e & POLLHUP) ? "h" : "",
            (e & POLLNVAL) ? "n" : "");
    }
}

/* Self-test hooks: a call that never returns, and a crash of the whole agent. */
static void op_hang(struct req *r) {
    (void)r;
    for (;;) {
#if defined(_WIN32)
        Sleep(1000);
#else
        sleep(1);
#endif
    }
}

static void op_crash(struct req *r) {
    (void)r;
    fflush(stdout);
    abort();
}

static void handle(struct req *r) {
    const char *op = r->n >= 2 ? r->words[1] : "";
    put(&r->out, "%s", r->n >= 1 ? r->words[0] : "0");
    if (strcmp(op, "hello") == 0) op_hello(r);
    else if (strcmp(op, "socket") == 0) op_socket(r);
    else if (strcmp(op, "bind") == 0) op_bind_connect(r, 0);
    else if (strcmp(op, "connect") == 0) op_bind_connect(r, 1);
    else if (strcmp(op, "connect_unspec") == 0) op_connect_unspec(r);
    else if (strcmp(op, "listen") == 0) op_listen(r);
    else if (strcmp(op, "accept") == 0) op_accept(r);
    else if (strcmp(op, "send") == 0) op_send(r, 0);
    else if (strcmp(op, "sendto") == 0) op_send(r, 1);
    else if (strcmp(op, "recv") == 0) op_recv(r, 0);
    else if (strcmp(op, "recvfrom") == 0) op_recv(r, 1);
    else if (strcmp(op, "recvmsg") == 0) op_recvmsg(r);
    else if (strcmp(op, "getsockname") == 0) op_name(r, 0);
    else if (strcmp(op, "getpeername") == 0) op_name(r, 1);
    else if (strcmp(op, "shutdown") == 0) op_shutdown(r);
    else if (strcmp(op, "nonblock") == 0) op_nonblock(r);
    else if (strcmp(op, "isnonblock") == 0) op_isnonblock(r);
    else if (strcmp(op, "setsockopt") == 0) op_sockopt(r, 1);
    else if (strcmp(op, "getsockopt") == 0) op_sockopt(r, 0);
    else if (strcmp(op, "close") == 0) op_close(r);
    else if (strcmp(op, "poll") == 0) op_poll(r);
    else if (strcmp(op, "hang") == 0) op_hang(r);
    else if (strcmp(op, "crash") == 0) op_crash(r);
    else put(&r->out, " unsupported unknown operation %s", op);
}

#if defined(_WIN32)
static unsigned __stdcall run(void *arg)
#else
static void *run(void *arg)
#endif
{
    struct req *r = arg;
    handle(r);
    send_reply(&r->out);
    free(r->line);
    free(r);
    return 0;
}

/* One line of any length; NULL at end of input. */
static char *read_line(void) {
    size_t cap = 256, len = 0;
    char *line = malloc(cap);
    if (!line) abort();
    for (;;) {
        if (!fgets(line + len, (int)(cap - len), stdin)) {
            if (len == 0) {
                free(line);
                return NULL;
            }
            return line;
        }
        len += strlen(line + len);
        if (len && line[len - 1] == '\n') {
            line[--len] = 0;
            if (len && line[len - 1] == '\r') line[--len] = 0;
            return line;
        }
        cap *= 2;
        line = realloc(line, cap);
        if (!line) abort();
    }
}

#if !defined(_WIN32)
static void on_sigpipe(int signum) { (void)signum; }
#endif

int main(void) {
#if defined(_WIN32)
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
    InitializeCriticalSection(&out_lock);
#else
    /* A send on a reset connection reports EPIPE instead of ending the agent,
     * and whether SIGPIPE was raised is part of its reply (took_sigpipe). */
    signal(SIGPIPE, on_sigpipe);
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, NULL);
#endif
    stack_start();
    char *line;
    while ((line = read_line()) != NULL) {
        struct req *r = calloc(1, sizeof *r);
        if (!r) abort();
        r->line = line;
        char *rest = line, *w;
        while (r->n < 16 && (w = next_word(&rest, ' ')) != NULL) r->words[r->n++] = w;
        r->out.cap = 128;
        r->out.p = malloc(r->out.cap);
        if (!r->out.p) abort();
        r->out.p[0] = 0;
#if defined(_WIN32)
        HANDLE t = (HANDLE)_beginthreadex(NULL, 0, run, r, 0, NULL);
        if (!t) abort();
        CloseHandle(t);
#else
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, run, r) != 0) abort();
        pthread_attr_destroy(&attr);
#endif
    }
    /* The suite closed our stdin: it is done with us. */
    return 0;
}
