// A measuring stick, not part of Trellis: the socket floor's proxy (bench/proxy/batch-floor.mjs) with its socket
// I/O moved out of Node. Node calls into JavaScript once per read and makes a write request object per write; here
// one epoll set, watched by libuv as a single file descriptor, is drained in C, every ready socket read into one
// shared buffer, and JavaScript is called once for the whole batch; the writes it queues in a second shared buffer
// are made in C when it returns. It shows what a request would cost a Node process whose I/O layer were its own.
// Built by bench/proxy/run.mjs: cc -O2 -shared -fPIC -I<node's include dir> batch-io.c. Loopback, no TLS, and no
// care for partial writes beyond retrying: small answers only.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define IN_SIZE (4 << 20)
#define OUT_SIZE (4 << 20)
#define READ_MAX 65536
#define MAX_EVENTS 512
#define RECORDS (MAX_EVENTS * 4)
// A record is four int32: kind, fd, offset, length.
enum { K_ACCEPT = 1, K_DATA = 2, K_CLOSE = 3 };

static int epfd = -1, lfd = -1;
static uv_poll_t poller;
static napi_env genv;
static napi_ref batch_ref;
static unsigned char *inbuf, *outbuf;
static int32_t *inrec, *outrec, *ctl; // ctl[0]: write records JavaScript queued

static void watch(int fd) {
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void flush_writes(void) {
  for (int i = 0; i < ctl[0]; i++) {
    int fd = outrec[i * 4 + 1], off = outrec[i * 4 + 2], len = outrec[i * 4 + 3];
    while (len > 0) {
      ssize_t w = write(fd, outbuf + off, len);
      if (w < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        break;
      }
      off += w;
      len -= w;
    }
  }
  ctl[0] = 0;
}

static void on_ready(uv_poll_t *handle, int status, int events) {
  struct epoll_event evs[MAX_EVENTS];
  int count = 0, used = 0;
  int n = epoll_wait(epfd, evs, MAX_EVENTS, 0);
  for (int i = 0; i < n && count < RECORDS - MAX_EVENTS; i++) {
    int fd = evs[i].data.fd;
    if (fd == lfd) {
      for (int c; count < RECORDS - MAX_EVENTS && (c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0;) {
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        watch(c);
        inrec[count * 4] = K_ACCEPT;
        inrec[count * 4 + 1] = c;
        count++;
      }
      continue;
    }
    if (IN_SIZE - used < READ_MAX) break; // level-triggered: the rest is read at the next turn
    ssize_t r = read(fd, inbuf + used, READ_MAX);
    if (r > 0) {
      inrec[count * 4] = K_DATA;
      inrec[count * 4 + 1] = fd;
      inrec[count * 4 + 2] = used;
      inrec[count * 4 + 3] = (int)r;
      used += r;
      count++;
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
      close(fd);
      inrec[count * 4] = K_CLOSE;
      inrec[count * 4 + 1] = fd;
      count++;
    }
  }
  if (count == 0) return;
  napi_handle_scope scope;
  napi_open_handle_scope(genv, &scope);
  napi_value batch, global, arg, result;
  napi_get_reference_value(genv, batch_ref, &batch);
  napi_get_global(genv, &global);
  napi_create_int32(genv, count, &arg);
  napi_call_function(genv, global, batch, 1, &arg, &result);
  napi_close_handle_scope(genv, scope);
  flush_writes();
}

static napi_value buffer(napi_env env, void *data, size_t bytes) {
  napi_value v;
  napi_create_external_arraybuffer(env, data, bytes, NULL, NULL, &v);
  return v;
}

// The port given as the first argument, and the second argument in `second` when asked for.
static int32_t port_argument(napi_env env, napi_callback_info info, napi_value *second) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t port = 0;
  napi_get_value_int32(env, argv[0], &port);
  if (second) *second = argv[1];
  return port;
}

static struct sockaddr_in loopback(int32_t port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  return a;
}

// open(port, batch): listens on 127.0.0.1:port; batch(count) is called with `count` records in `inrec`.
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value batch;
  int32_t port = port_argument(env, info, &batch);
  napi_create_reference(env, batch, 1, &batch_ref);
  genv = env;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = loopback(port);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  watch(lfd);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &poller, epfd);
  uv_poll_start(&poller, UV_READABLE, on_ready);
  inbuf = malloc(IN_SIZE);
  outbuf = malloc(OUT_SIZE);
  inrec = calloc(RECORDS * 4, sizeof(int32_t));
  outrec = calloc(RECORDS * 4, sizeof(int32_t));
  ctl = calloc(4, sizeof(int32_t));
  napi_value shared;
  napi_create_object(env, &shared);
  napi_set_named_property(env, shared, "input", buffer(env, inbuf, IN_SIZE));
  napi_set_named_property(env, shared, "output", buffer(env, outbuf, OUT_SIZE));
  napi_set_named_property(env, shared, "inputRecords", buffer(env, inrec, RECORDS * 4 * sizeof(int32_t)));
  napi_set_named_property(env, shared, "outputRecords", buffer(env, outrec, RECORDS * 4 * sizeof(int32_t)));
  napi_set_named_property(env, shared, "control", buffer(env, ctl, 4 * sizeof(int32_t)));
  return shared;
}

// connect(port): a connection to 127.0.0.1:port (connected before it returns: loopback), or -1.
static napi_value js_connect(napi_env env, napi_callback_info info) {
  struct sockaddr_in a = loopback(port_argument(env, info, NULL));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    fd = -1;
  } else {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    watch(fd);
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &f);
  napi_set_named_property(env, exports, "open", f);
  napi_create_function(env, "connect", NAPI_AUTO_LENGTH, js_connect, NULL, &f);
  napi_set_named_property(env, exports, "connect", f);
  return exports;
}
