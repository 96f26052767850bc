#include "offlog/server/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "offlog/common/protocol.h"
#include "offlog/common/pyerror.h"
#include "offlog/server/channel.h"
#include "offlog/server/confine.h"
#include "offlog/server/credentials.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

constexpr uint64_t kChannelKey = 0;  // Client ids start at 1.
constexpr size_t kReadSize = 64 * 1024;
// Reads per client per wake-up, so one busy client cannot starve the rest.
constexpr int kReadsPerEvent = 8;

struct Client {
  UniqueFd fd;
  uint64_t id = 0;
  std::string raw_path;  // As the client sent it: quoted in its errors.
  bool told_rotated = false;
  bool confirmed = false;  // Told OK: counted among the file's clients.
};

// Why a client is being let go; decides the log line and whether it is
// told BYE.
enum class Ending { kClientDone, kClientGone, kServerClosed };

class Writer {
 public:
  Writer(UniqueFd channel, const WriterConfig& config, WriterStats* stats)
      : channel_(std::move(channel)), config_(config), stats_(stats) {}

  int Run();

 private:
  void OnChannelReadable();
  void OnAssign(ChannelMessage msg);
  void OnClose();
  void OnReopen();
  void BeginShutdown();
  void OnClientReadable(uint64_t id);
  // Returns false when the client was dropped.
  bool ReadOnce(Client& c);
  void EndClient(uint64_t id, Ending ending);
  // Sends one framed message without blocking; false if it did not fit.
  bool SendMessage(Client& c, absl::string_view msg);
  int OpenTarget();
  // Takes on the credentials a kAssign asks for (channel.h's
  // kAssignAsClient); false if this writer cannot serve that client.
  bool AdoptCredentials(const ChannelMessage& msg);
  int WriteAll(absl::string_view data);
  void CheckRotation();
  int NextTimeoutMs() const;
  void Report(MsgType type, uint64_t client_id = 0);

  UniqueFd channel_;
  WriterConfig config_;
  WriterStats* stats_;
  UniqueFd epoll_;
  UniqueFd file_;
  std::string path_;  // Normalised target path; empty when idle.
  // Set once this process has dropped to a client's credentials (for good:
  // it serves only clients with the same key until it exits).
  std::string creds_key_;
  absl::flat_hash_map<uint64_t, Client> clients_;
  std::vector<char> buf_ = std::vector<char>(kReadSize);
  int64_t next_rotation_check_ms_ = 0;
  bool shutting_down_ = false;
  bool channel_open_ = true;
};

int Writer::Run() {
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kChannelKey;
  if (!epoll_ || epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, channel_.get(), &ev)) {
    LogError("writer %d: epoll: %s", getpid(), strerror(errno));
    return 1;
  }
  while (!(shutting_down_ && clients_.empty())) {
    epoll_event events[64];
    int n = epoll_wait(epoll_.get(), events, 64, NextTimeoutMs());
    if (n < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kChannelKey) {
        OnChannelReadable();
      } else {
        OnClientReadable(events[i].data.u64);
      }
    }
    if (!path_.empty() && MonotonicMs() >= next_rotation_check_ms_) {
      CheckRotation();
    }
  }
  if (file_) OnClose();
  return 0;
}

int Writer::NextTimeoutMs() const {
  if (path_.empty() || shutting_down_) return -1;
  return static_cast<int>(
      std::max<int64_t>(0, next_rotation_check_ms_ - MonotonicMs()));
}

void Writer::Report(MsgType type, uint64_t client_id) {
  if (!channel_open_) return;
  ChannelHeader h = {};
  h.type = type;
  h.client_id = client_id;
  if (!SendChannelMessage(channel_.get(), h).ok()) channel_open_ = false;
}

void Writer::OnChannelReadable() {
  absl::StatusOr<ChannelMessage> msg = RecvChannelMessage(channel_.get());
  if (!msg.ok()) {
    // The acceptor is gone. Finish what the clients have sent, then exit.
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, channel_.get(), nullptr);
    channel_open_ = false;
    BeginShutdown();
    return;
  }
  switch (msg->header.type) {
    case MsgType::kAssign:
      OnAssign(*std::move(msg));
      break;
    case MsgType::kClose:
      OnClose();
      Report(MsgType::kClosed);
      break;
    case MsgType::kShutdown:
      BeginShutdown();
      break;
    case MsgType::kReopen:
      OnReopen();
      break;
    default:
      break;
  }
}

int Writer::OpenTarget() {
  stats_->busy_since_ms = MonotonicMs();
  int fd = OpenForAppend(path_, config_.allowed_dirs);
  stats_->busy_since_ms = 0;
  if (fd < 0) return -fd;
  file_.Reset(fd);
  next_rotation_check_ms_ = MonotonicMs() + config_.rotate_check_interval_ms;
  return 0;
}

void Writer::OnAssign(ChannelMessage msg) {
  uint64_t id = msg.header.client_id;
  Client& c = clients_[id];
  c.fd = std::move(msg.fd);
  c.id = id;
  c.raw_path = std::move(msg.raw_path);
  stats_->clients = clients_.size();
  if (!c.fd) {
    EndClient(id, Ending::kClientGone);
    return;
  }
  int flags = fcntl(c.fd.get(), F_GETFL);
  fcntl(c.fd.get(), F_SETFL, flags | O_NONBLOCK);
  if (!AdoptCredentials(msg)) {
    SendMessage(c, FormatOsError(EACCES, c.raw_path));
    EndClient(id, Ending::kServerClosed);
    return;
  }
  if (path_.empty()) path_ = msg.path;
  if (!file_) {
    if (int err = OpenTarget(); err != 0) {
      std::string emsg = FormatOsError(err, c.raw_path);
      LogWarning("Client %d access denied for %s:\n%s", id,
                 EscapeForLog(c.raw_path), emsg);
      SendMessage(c, emsg);
      EndClient(id, Ending::kServerClosed);
      return;
    }
  }
  c.confirmed = true;
  LogInfo("Client %d access confirmed for %s", id, EscapeForLog(path_));
  LogInfo("New client %d (total: %d) for %s", id, clients_.size(),
          EscapeForLog(path_));
  bool resumed = msg.header.flags != 0;
  if (!resumed && !SendMessage(c, kMsgOk)) {
    // It cannot hear us: it closed without SHUT_WR, or refuses to read.
    // Take nothing more from it, but still write what it sent before, which
    // stays readable after SHUT_RD; its EOF then ends it.
    shutdown(c.fd.get(), SHUT_RD);
  }
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = id;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
  if (shutting_down_) {
    SendMessage(c, kErrServerExited);
    shutdown(c.fd.get(), SHUT_RD);
  }
}

bool Writer::AdoptCredentials(const ChannelMessage& msg) {
  if (!(msg.header.assign_flags & kAssignAsClient)) return creds_key_.empty();
  PeerCredentials cred;
  cred.pid = msg.header.pid;
  cred.uid = msg.header.uid;
  cred.gid = msg.header.gid;
  cred.groups = msg.groups;
  std::string key = CredentialsKey(cred);
  if (!creds_key_.empty()) return key == creds_key_;
  if (absl::Status s = DropToCredentials(cred); !s.ok()) {
    // Half-changed credentials are unsafe to go on with: exit, and the
    // acceptor passes the client to a fresh writer.
    LogError("writer %d: cannot take on uid %d gid %d: %s", getpid(), cred.uid,
             cred.gid, s.ToString());
    _exit(1);
  }
  creds_key_ = std::move(key);
  return true;
}

void Writer::OnClose() {
  if (file_) {
    file_.Reset();
    LogInfo("Closed %s", EscapeForLog(path_));
  }
  path_.clear();
}

void Writer::OnReopen() {
  if (path_.empty()) return;
  UniqueFd old = std::move(file_);
  if (int err = OpenTarget(); err != 0) {
    LogWarning("Failed to reopen %s: %s", EscapeForLog(path_), strerror(err));
    file_ = std::move(old);
  }
}

void Writer::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  std::vector<uint64_t> ids;
  for (auto& [id, c] : clients_) ids.push_back(id);
  for (uint64_t id : ids) {
    Client& c = clients_[id];
    if (!SendMessage(c, kErrServerExited)) {
      EndClient(id, Ending::kServerClosed);
      continue;
    }
    // What the client already sent stays readable; anything it sends from
    // now on is refused with EPIPE, so the drain below ends.
    shutdown(c.fd.get(), SHUT_RD);
  }
}

bool Writer::SendMessage(Client& c, absl::string_view msg) {
  std::string framed = FrameMessage(msg);
  ssize_t n = send(c.fd.get(), framed.data(), framed.size(),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(framed.size())) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    LogWarning("Client %d sock not writeable", c.id);
  }
  return false;
}

void Writer::OnClientReadable(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  for (int i = 0; i < kReadsPerEvent; ++i) {
    if (!ReadOnce(it->second)) return;
  }
}

int Writer::WriteAll(absl::string_view data) {
  stats_->busy_since_ms = MonotonicMs();
  int err = 0;
  while (!data.empty()) {
    ssize_t n = write(file_.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    data.remove_prefix(n);
  }
  stats_->busy_since_ms = 0;
  return err;
}

bool Writer::ReadOnce(Client& c) {
  int flags = config_.peek_reads ? MSG_PEEK : 0;
  ssize_t n = recv(c.fd.get(), buf_.data(), buf_.size(), flags);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (errno == EINTR) return true;
    EndClient(c.id, Ending::kClientGone);
    return false;
  }
  if (n == 0) {
    EndClient(c.id, shutting_down_ ? Ending::kServerClosed : Ending::kClientDone);
    return false;
  }
  absl::string_view data(buf_.data(), n);
  if (int err = WriteAll(data); err != 0) {
    stats_->write_errors++;
    std::string emsg = FormatOsError(err);
    LogWarning("Failed to write to %s:\n%s", EscapeForLog(path_), emsg);
    SendMessage(c, emsg);
    EndClient(c.id, Ending::kServerClosed);
    return false;
  }
  if (config_.peek_reads) {
    // Only now is the data safe in the file: take it out of the socket.
    recv(c.fd.get(), buf_.data(), n, 0);
  }
  stats_->bytes_written += n;
  stats_->records_written += std::count(data.begin(), data.end(), '\n');
  stats_->last_write_ms = RealtimeMs();
  return static_cast<size_t>(n) == buf_.size();
}

void Writer::EndClient(uint64_t id, Ending ending) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  if (ending == Ending::kClientDone) {
    LogInfo("Client %d disconnected", id);
    SendMessage(c, kMsgBye);
  } else if (ending == Ending::kClientGone) {
    LogInfo("Client %d disconnected", id);
  } else {
    LogInfo("Closing connection with client %d", id);
  }
  if (c.fd) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
    // The acceptor holds a duplicate of this socket; shutting it down (not
    // just closing our descriptor) is what tells the client we are done.
    shutdown(c.fd.get(), SHUT_RDWR);
  }
  bool confirmed = c.confirmed;
  clients_.erase(it);
  stats_->clients = clients_.size();
  if (confirmed) {
    LogInfo("Client %d done (remaining: %d) with %s", id, clients_.size(),
            EscapeForLog(path_));
  }
  Report(MsgType::kClientDone, id);
}

void Writer::CheckRotation() {
  next_rotation_check_ms_ = MonotonicMs() + config_.rotate_check_interval_ms;
  if (!file_) return;
  struct stat open_st, path_st;
  if (fstat(file_.get(), &open_st) != 0) return;
  bool rotated = stat(path_.c_str(), &path_st) != 0 ||
                 path_st.st_ino != open_st.st_ino ||
                 path_st.st_dev != open_st.st_dev;
  if (!rotated) return;
  LogInfo("File rotation detected: %s", EscapeForLog(path_));
  std::vector<uint64_t> to_drop;
  for (auto& [id, c] : clients_) {
    if (c.told_rotated) continue;
    c.told_rotated = true;
    if (!SendMessage(c, kMsgRotated)) to_drop.push_back(id);
  }
  for (uint64_t id : to_drop) EndClient(id, Ending::kServerClosed);
  // Follow the path to its new file, so that clients which ignore ROTATED
  // (offlog 0.1, offlog_tee) keep appending where the log now is.
  OnReopen();
}

}  // namespace

int RunWriter(UniqueFd channel, const WriterConfig& config,
              WriterStats* stats) {
  Writer writer(std::move(channel), config, stats);
  return writer.Run();
}

}  // namespace offlog
