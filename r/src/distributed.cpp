// Bindings for MLX's distributed groups and collective operations, and the
// free-port lookup of the local launcher.
#include "rmlx_distributed.h"
#include "rmlx_module.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rmlx/distributed.h"

namespace mx = mlx::core;
namespace dist = rmlx::distributed;

namespace {

using Group = mx::distributed::Group;

SEXP group_tag() {
  static SEXP tag = Rf_install("rmlx_group");
  return tag;
}

void finalize_group(SEXP ptr) {
  auto* group = static_cast<Group*>(R_ExternalPtrAddr(ptr));
  if (group != nullptr) {
    delete group;
    R_ClearExternalPtr(ptr);
  }
}

SEXP wrap_group(Group group) {
  auto* heap = new Group(std::move(group));
  SEXP ptr = PROTECT(R_MakeExternalPtr(heap, group_tag(), R_NilValue));
  R_RegisterCFinalizerEx(ptr, finalize_group, TRUE);
  UNPROTECT(1);
  return ptr;
}

// Closes a socket when it goes out of scope.
class SocketCloser {
 public:
  explicit SocketCloser(int fd) : fd_(fd) {}
  ~SocketCloser() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  SocketCloser(const SocketCloser&) = delete;
  SocketCloser& operator=(const SocketCloser&) = delete;

 private:
  int fd_;
};

} // namespace

Group rmlx_unwrap_group(SEXP x, const char* fn) {
  if (TYPEOF(x) != EXTPTRSXP || R_ExternalPtrTag(x) != group_tag() ||
      R_ExternalPtrAddr(x) == nullptr) {
    throw std::invalid_argument(
        std::string(fn) +
        "(): `group` is not a live MLX group (one restored by readRDS() must "
        "be created again with mlx_distributed_init()).");
  }
  return *static_cast<Group*>(R_ExternalPtrAddr(x));
}

std::optional<Group> rmlx_parse_group(SEXP x, const char* fn) {
  if (x == R_NilValue) {
    return std::nullopt;
  }
  return rmlx_unwrap_group(x, fn);
}

[[cpp11::register]]
bool distributed_available_(std::string backend) {
  if (backend == "any") {
    return mx::distributed::is_available();
  }
  return mx::distributed::is_available(backend);
}

[[cpp11::register]]
SEXP distributed_init_(std::string backend, bool strict, double timeout) {
  return wrap_group(dist::init(backend, strict, timeout));
}

[[cpp11::register]]
int group_rank_(SEXP group) {
  return rmlx_unwrap_group(group, "mlx_group_rank").rank();
}

[[cpp11::register]]
int group_size_(SEXP group) {
  return rmlx_unwrap_group(group, "mlx_group_size").size();
}

[[cpp11::register]]
SEXP all_sum_(SEXP x, SEXP group) {
  const char* fn = "mlx_all_sum";
  return rmlx_wrap_array(mx::distributed::all_sum(
      rmlx_unwrap_array(x, fn, "x"), rmlx_unwrap_group(group, fn)));
}

[[cpp11::register]]
SEXP all_gather_(SEXP x, SEXP group) {
  const char* fn = "mlx_all_gather";
  return rmlx_wrap_array(mx::distributed::all_gather(
      rmlx_unwrap_array(x, fn, "x"), rmlx_unwrap_group(group, fn)));
}

// Sends at once: MLX's send returns an array whose evaluation does the send.
[[cpp11::register]]
void send_(SEXP x, int dst, SEXP group) {
  const char* fn = "mlx_send";
  auto sent = mx::distributed::send(
      rmlx_unwrap_array(x, fn, "x"), dst, rmlx_unwrap_group(group, fn));
  mx::eval(sent);
}

[[cpp11::register]]
SEXP recv_like_(SEXP like, int src, SEXP group) {
  const char* fn = "mlx_recv";
  return rmlx_wrap_array(mx::distributed::recv_like(
      rmlx_unwrap_array(like, fn, "like"), src, rmlx_unwrap_group(group, fn)));
}

[[cpp11::register]]
cpp11::list average_gradients_(
    cpp11::list grads,
    SEXP group,
    double all_reduce_size) {
  const char* fn = "mlx_average_gradients";
  return rmlx_wrap_named(dist::average_gradients(
      rmlx_unwrap_named(grads, fn),
      rmlx_unwrap_group(group, fn),
      static_cast<int64_t>(all_reduce_size)));
}

// Returns `n` distinct TCP ports that are free on 127.0.0.1. The kernel picks
// each one (bind to port 0); all sockets stay open until every port is
// chosen, so the ports differ. Another program may still take a port
// between this call and the worker's bind.
[[cpp11::register]]
cpp11::integers free_loopback_ports_(int n) {
  cpp11::writable::integers ports(n);
  std::vector<std::unique_ptr<SocketCloser>> closers;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      throw std::runtime_error(
          std::string("mlx_launch_local(): creating a socket failed: ") +
          std::strerror(errno));
    }
    closers.push_back(std::make_unique<SocketCloser>(fd));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error(
          std::string("mlx_launch_local(): finding a free port on 127.0.0.1 "
                      "failed: ") +
          std::strerror(errno));
    }
    ports[i] = ntohs(address.sin_port);
  }
  return ports;
}
