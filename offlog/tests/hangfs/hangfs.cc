// hangfs: a FUSE file system that hangs on command, the way a dead NFS server
// does, so that tests can watch writers stuck in the kernel.
//
//   hangfs [--max-hang=SECONDS] [--rmdir] BACKING_DIR MOUNT_POINT
//
// Mounts BACKING_DIR's tree at MOUNT_POINT (allow_other, no
// default_permissions: any uid may do anything; files and directories made
// through the mount belong to the caller's uid and gid, with the caller's
// mode bits). Runs in the foreground until told to exit. Everything made
// through the mount is a real file under BACKING_DIR, so a test can read it
// there even while the mount hangs.
//
// The control channel is stdin (commands) and stdout (one reply line per
// command):
//   (after mounting)  -> "ready"
//   "hang"            -> "ok"  every request from now on is left unanswered
//   "hang OP..."      -> "ok"  only these requests (e.g. "hang write open");
//                              OP names are those of fuse_lowlevel_ops
//   "release"         -> "ok"  answers every held request, in arrival order,
//                              and stops hanging
//   "blocked"         -> "blocked N"  N requests are held right now
//   "blocked OP"      -> "blocked N"  N OP requests are held right now
//   "exit" or EOF     -> "bye"  releases, unmounts (lazily) and exits 0
// A held request is simply not answered: its caller sits in the kernel
// (request_wait_answer), and once signalled in D state, until the request is
// answered or the connection aborted (/sys/fs/fuse/connections/N/abort, or
// this process dying, which closes /dev/fuse).
//
// forget, release and releasedir are never held: the kernel sends them
// without a caller waiting on them.
//
// So that no test run can leave a hung mount behind, hangfs also releases
// everything and exits when its parent process exits or when SIGTERM, SIGINT
// or SIGHUP arrive; it releases (and keeps running) when its parent is dying
// (its thread group leader is a zombie, or it dumps core, while threads of
// it are stuck in this file system) and when a hang has lasted longer than
// --max-hang seconds (0, the default, means forever). With --rmdir it
// removes MOUNT_POINT (if empty) after unmounting on exit.
//
// Requests are read by one thread (fuse_session_loop) and answered under one
// lock; held ones are answered by the control thread on "release". Entries
// and attributes are never cached by the kernel (timeouts 0), so every
// stat() and open() reaches this process and hangs when told to.
#define FUSE_USE_VERSION 35

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "offlog/common/unique_fd.h"

namespace offlog {
namespace hangfs {
namespace {

// One object of the backing tree that the kernel knows by a node id. Its id
// is the Inode's address (the root's is FUSE_ROOT_ID).
struct Inode {
  UniqueFd fd;  // O_PATH
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t nlookup = 0;  // Kernel references; freed at 0 (never the root).
};

// A request held while hanging: answering it is calling `answer`.
struct Held {
  std::string op;
  std::function<void()> answer;
};

// An open directory: its entries, read at opendir.
struct DirHandle {
  struct Entry {
    std::string name;
    ino_t ino;
    unsigned char type;  // DT_*
  };
  std::vector<Entry> entries;
};

std::mutex mu;  // Guards everything below, and every answer.
Inode root;
std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Inode>> inodes;
bool hanging = false;
std::set<std::string> hang_ops;  // Empty while hanging: all ops.
std::chrono::steady_clock::time_point hang_since;
std::deque<Held> held;

Inode& Get(fuse_ino_t ino) {
  if (ino == FUSE_ROOT_ID) return root;
  return *reinterpret_cast<Inode*>(static_cast<uintptr_t>(ino));
}

std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// Runs `answer` now, or holds it if `op` hangs.
void Serve(const char* op, std::function<void()> answer) {
  std::lock_guard<std::mutex> lock(mu);
  if (hanging && (hang_ops.empty() || hang_ops.count(op))) {
    held.push_back({op, std::move(answer)});
    return;
  }
  answer();
}

// Answers every held request and stops hanging. Needs `mu`.
int ReleaseLocked() {
  hanging = false;
  hang_ops.clear();
  int n = 0;
  while (!held.empty()) {
    Held h = std::move(held.front());
    held.pop_front();
    h.answer();
    ++n;
  }
  return n;
}

// Drops `n` kernel references to `ino`. Needs `mu`.
void Forget(fuse_ino_t ino, uint64_t n) {
  if (ino == FUSE_ROOT_ID) return;
  Inode& inode = Get(ino);
  inode.nlookup -= std::min(n, inode.nlookup);
  if (inode.nlookup == 0) inodes.erase({inode.dev, inode.ino});
}

// Fills `e` for `name` in `parent`, counting one kernel reference; returns 0
// or an errno value.
int LookupEntry(fuse_ino_t parent, const std::string& name,
                fuse_entry_param* e) {
  *e = {};
  e->attr_timeout = 0;
  e->entry_timeout = 0;
  UniqueFd fd(openat(Get(parent).fd.get(), name.c_str(),
                     O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errno;
  if (fstatat(fd.get(), "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
    return errno;
  }
  auto key = std::make_pair(e->attr.st_dev, e->attr.st_ino);
  Inode* inode;
  if (key == std::make_pair(root.dev, root.ino)) {
    inode = &root;
  } else {
    std::unique_ptr<Inode>& slot = inodes[key];
    if (!slot) {
      slot = std::make_unique<Inode>();
      slot->fd = std::move(fd);
      slot->dev = key.first;
      slot->ino = key.second;
    }
    inode = slot.get();
  }
  inode->nlookup++;
  e->ino = inode == &root
               ? FUSE_ROOT_ID
               : static_cast<fuse_ino_t>(reinterpret_cast<uintptr_t>(inode));
  return 0;
}

void ReplyEntry(fuse_req_t req, fuse_ino_t parent, const std::string& name) {
  fuse_entry_param e;
  int err = LookupEntry(parent, name, &e);
  if (err) {
    fuse_reply_err(req, err);
  } else if (fuse_reply_entry(req, &e) != 0) {
    Forget(e.ino, 1);  // The kernel never got it.
  }
}

void ReplyAttr(fuse_req_t req, fuse_ino_t ino) {
  struct stat st;
  if (fstatat(Get(ino).fd.get(), "", &st,
              AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
    fuse_reply_err(req, errno);
  } else {
    fuse_reply_attr(req, &st, 0);
  }
}

// Gives what the calling process made to its uid and gid.
int ChownToCaller(fuse_req_t req, int dirfd, const char* name) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
  return fchownat(dirfd, name, ctx->uid, ctx->gid, flags) ? errno : 0;
}

void Init(void*, fuse_conn_info* conn) {
  // Every write() is a request answered before it returns.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve("lookup",
        [=, name = std::string(name)] { ReplyEntry(req, parent, name); });
}

void ForgetOne(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  {
    std::lock_guard<std::mutex> lock(mu);
    Forget(ino, nlookup);
  }
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < count; ++i) {
      Forget(forgets[i].ino, forgets[i].nlookup);
    }
  }
  fuse_reply_none(req);
}

void Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Serve("getattr", [=] { ReplyAttr(req, ino); });
}

void Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
             fuse_file_info* fi) {
  struct stat a = *attr;
  int fh = fi ? static_cast<int>(fi->fh) : -1;
  Serve("setattr", [=] {
    int fd = Get(ino).fd.get();
    std::string path = ProcPath(fd);
    int res = 0;
    if (to_set & FUSE_SET_ATTR_MODE) {
      res = fh >= 0 ? fchmod(fh, a.st_mode) : chmod(path.c_str(), a.st_mode);
    }
    if (!res && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
      uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? a.st_uid : -1;
      gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? a.st_gid : -1;
      res = fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    }
    if (!res && (to_set & FUSE_SET_ATTR_SIZE)) {
      res = fh >= 0 ? ftruncate(fh, a.st_size)
                    : truncate(path.c_str(), a.st_size);
    }
    if (!res && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
      timespec tv[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
      if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
        tv[0].tv_nsec = UTIME_NOW;
      } else if (to_set & FUSE_SET_ATTR_ATIME) {
        tv[0] = a.st_atim;
      }
      if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        tv[1].tv_nsec = UTIME_NOW;
      } else if (to_set & FUSE_SET_ATTR_MTIME) {
        tv[1] = a.st_mtim;
      }
      res =
          fh >= 0 ? futimens(fh, tv) : utimensat(AT_FDCWD, path.c_str(), tv, 0);
    }
    if (res) {
      fuse_reply_err(req, errno);
    } else {
      ReplyAttr(req, ino);
    }
  });
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Serve("mkdir", [=, name = std::string(name)] {
    int dirfd = Get(parent).fd.get();
    if (mkdirat(dirfd, name.c_str(), mode)) {
      fuse_reply_err(req, errno);
      return;
    }
    ChownToCaller(req, dirfd, name.c_str());
    ReplyEntry(req, parent, name);
  });
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve("unlink", [=, name = std::string(name)] {
    fuse_reply_err(req,
                   unlinkat(Get(parent).fd.get(), name.c_str(), 0) ? errno : 0);
  });
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve("rmdir", [=, name = std::string(name)] {
    fuse_reply_err(
        req,
        unlinkat(Get(parent).fd.get(), name.c_str(), AT_REMOVEDIR) ? errno : 0);
  });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
            fuse_ino_t newparent, const char* newname, unsigned int flags) {
  Serve("rename",
        [=, name = std::string(name), newname = std::string(newname)] {
          int res = renameat2(Get(parent).fd.get(), name.c_str(),
                              Get(newparent).fd.get(), newname.c_str(), flags);
          fuse_reply_err(req, res ? errno : 0);
        });
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  fuse_file_info f = *fi;
  Serve("open", [=]() mutable {
    int fd = open(ProcPath(Get(ino).fd.get()).c_str(),
                  (f.flags & ~O_NOFOLLOW) | O_CLOEXEC);
    if (fd < 0) {
      fuse_reply_err(req, errno);
      return;
    }
    f.fh = fd;
    f.direct_io = 1;  // Every write() and read() is a request.
    if (fuse_reply_open(req, &f)) close(fd);  // The caller was interrupted.
  });
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
            fuse_file_info* fi) {
  fuse_file_info f = *fi;
  Serve("create", [=, name = std::string(name)]() mutable {
    int dirfd = Get(parent).fd.get();
    int flags = (f.flags & ~O_NOFOLLOW) | O_CLOEXEC;
    UniqueFd fd(openat(dirfd, name.c_str(), flags | O_CREAT | O_EXCL, mode));
    if (fd) {
      ChownToCaller(req, fd.get(), "");
    } else if (errno == EEXIST && !(f.flags & O_EXCL)) {
      // Made in the backing directory since the kernel looked.
      fd.Reset(openat(dirfd, name.c_str(), flags & ~O_CREAT));
    }
    if (!fd) {
      fuse_reply_err(req, errno);
      return;
    }
    fuse_entry_param e;
    if (int err = LookupEntry(parent, name, &e)) {
      fuse_reply_err(req, err);
      return;
    }
    f.fh = fd.get();
    f.direct_io = 1;
    if (fuse_reply_create(req, &e, &f) == 0) {
      fd.Release();
    } else {
      Forget(e.ino, 1);  // The caller was interrupted.
    }
  });
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off,
          fuse_file_info* fi) {
  int fh = static_cast<int>(fi->fh);
  Serve("read", [=] {
    std::string buf(size, '\0');
    ssize_t n = pread(fh, buf.data(), size, off);
    if (n < 0) {
      fuse_reply_err(req, errno);
    } else {
      fuse_reply_buf(req, buf.data(), n);
    }
  });
}

void Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
           fuse_file_info* fi) {
  int fh = static_cast<int>(fi->fh);
  Serve("write", [=, data = std::string(buf, size)] {
    // An O_APPEND descriptor appends whatever `off` says.
    ssize_t n = pwrite(fh, data.data(), data.size(), off);
    if (n < 0) {
      fuse_reply_err(req, errno);
    } else {
      fuse_reply_write(req, n);
    }
  });
}

void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  int fh = static_cast<int>(fi->fh);
  Serve("flush", [=] {
    int res = close(dup(fh));
    fuse_reply_err(req, res ? errno : 0);
  });
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  close(static_cast<int>(fi->fh));
  fuse_reply_err(req, 0);
}

void Fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  int fh = static_cast<int>(fi->fh);
  Serve("fsync", [=] {
    int res = datasync ? fdatasync(fh) : fsync(fh);
    fuse_reply_err(req, res ? errno : 0);
  });
}

void Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  fuse_file_info f = *fi;
  Serve("opendir", [=]() mutable {
    int fd = openat(Get(ino).fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* dir = fd < 0 ? nullptr : fdopendir(fd);
    if (dir == nullptr) {
      int err = errno;
      if (fd >= 0) close(fd);
      fuse_reply_err(req, err);
      return;
    }
    auto handle = std::make_unique<DirHandle>();
    while (dirent* d = readdir(dir)) {
      handle->entries.push_back({d->d_name, d->d_ino, d->d_type});
    }
    closedir(dir);
    f.fh = reinterpret_cast<uintptr_t>(handle.get());
    if (fuse_reply_open(req, &f) == 0) handle.release();
  });
}

void Readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off,
             fuse_file_info* fi) {
  auto* handle = reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
  Serve("readdir", [=] {
    std::string buf(size, '\0');
    size_t used = 0;
    for (size_t i = off; i < handle->entries.size(); ++i) {
      const DirHandle::Entry& entry = handle->entries[i];
      struct stat st = {};
      st.st_ino = entry.ino;
      st.st_mode = static_cast<mode_t>(entry.type) << 12;
      size_t n = fuse_add_direntry(req, buf.data() + used, size - used,
                                   entry.name.c_str(), &st, i + 1);
      if (n > size - used) break;
      used += n;
    }
    fuse_reply_buf(req, buf.data(), used);
  });
}

void Releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
  fuse_reply_err(req, 0);
}

void Statfs(fuse_req_t req, fuse_ino_t ino) {
  Serve("statfs", [=] {
    struct statvfs st;
    UniqueFd fd(openat(Get(ino).fd.get(), ".", O_RDONLY | O_CLOEXEC));
    if (!fd || fstatvfs(fd.get(), &st)) {
      fuse_reply_err(req, errno);
    } else {
      fuse_reply_statfs(req, &st);
    }
  });
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops = {};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = ForgetOne;
  ops.forget_multi = ForgetMulti;
  ops.getattr = Getattr;
  ops.setattr = Setattr;
  ops.mkdir = Mkdir;
  ops.unlink = Unlink;
  ops.rmdir = Rmdir;
  ops.rename = Rename;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.opendir = Opendir;
  ops.readdir = Readdir;
  ops.releasedir = Releasedir;
  ops.statfs = Statfs;
  return ops;
}();

// What Serve() may hold.
constexpr std::string_view kHeldOps[] = {
    "lookup", "getattr", "setattr", "mkdir", "unlink", "rmdir",
    "rename", "open",    "create",  "read",  "write",  "flush",
    "fsync",  "opendir", "readdir", "statfs"};

void Say(const std::string& line) {
  std::string s = line + "\n";
  if (write(STDOUT_FILENO, s.data(), s.size()) < 0) {
    // The harness is gone; EOF on stdin follows.
  }
}

// Whether process `pid` is dying, held up by threads stuck in this file
// system: its thread group leader has exited (a zombie) while other threads
// live on, or it is dumping core (waiting for all its threads).
bool IsDying(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char buf[8192];
  ssize_t n = read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  return strstr(buf, "\nState:\tZ") || strstr(buf, "\nState:\tX") ||
         strstr(buf, "\nCoreDumping:\t1");
}

// Handles one command line; false once told to exit.
bool Command(const std::string& line) {
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  if (verb == "hang") {
    std::set<std::string> ops;
    for (std::string op; in >> op;) {
      if (std::find(std::begin(kHeldOps), std::end(kHeldOps), op) ==
          std::end(kHeldOps)) {
        Say("error not an op that can hang: " + op);
        return true;
      }
      ops.insert(op);
    }
    std::lock_guard<std::mutex> lock(mu);
    if (!hanging) hang_since = std::chrono::steady_clock::now();
    hanging = true;
    hang_ops = std::move(ops);
    Say("ok");
  } else if (verb == "release") {
    std::lock_guard<std::mutex> lock(mu);
    ReleaseLocked();
    Say("ok");
  } else if (verb == "blocked") {
    std::string op;
    in >> op;
    std::lock_guard<std::mutex> lock(mu);
    size_t n = 0;
    for (const Held& h : held) n += op.empty() || h.op == op;
    Say("blocked " + std::to_string(n));
  } else if (verb == "exit") {
    return false;
  } else if (!verb.empty()) {
    Say("error unknown command: " + verb);
  }
  return true;
}

int Usage() {
  fprintf(stderr,
          "usage: hangfs [--max-hang=SECONDS] [--rmdir] BACKING_DIR "
          "MOUNT_POINT\n");
  return 2;
}

int Main(int argc, char** argv) {
  std::vector<std::string> positional;
  int max_hang_s = 0;
  bool remove_mount_point = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--max-hang=", 0) == 0) {
      max_hang_s = atoi(arg.c_str() + strlen("--max-hang="));
    } else if (arg == "--rmdir") {
      remove_mount_point = true;
    } else if (arg == "-f") {
      // Always in the foreground.
    } else if (arg.empty() || arg[0] == '-') {
      return Usage();
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) return Usage();
  const std::string& backing = positional[0];
  const std::string& mount_point = positional[1];

  umask(0);  // Modes arrive with the caller's umask applied.
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // Before any thread starts.
  UniqueFd signals(signalfd(-1, &stop, SFD_CLOEXEC));
  pid_t parent = getppid();
  UniqueFd parent_fd(static_cast<int>(syscall(SYS_pidfd_open, parent, 0)));

  root.fd.Reset(open(backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st;
  if (!root.fd || fstat(root.fd.get(), &st)) {
    perror(("hangfs: " + backing).c_str());
    return 1;
  }
  root.dev = st.st_dev;
  root.ino = st.st_ino;
  root.nlookup = 1;

  const char* fuse_argv[] = {argv[0], "-o",
                             "allow_other,fsname=hangfs,subtype=hangfs"};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(fuse_argv));
  fuse_session* se = fuse_session_new(&args, &kOps, sizeof(kOps), nullptr);
  if (se == nullptr) return 1;
  if (fuse_session_mount(se, mount_point.c_str()) != 0) return 1;
  std::thread loop([se] {
    fuse_session_loop(se);
    // The connection is gone (aborted or unmounted): free what is held.
    std::lock_guard<std::mutex> lock(mu);
    ReleaseLocked();
  });
  loop.detach();  // Blocked in read(/dev/fuse) until the process exits.
  Say("ready");

  std::string pending;
  bool running = true;
  while (running) {
    pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0},
                     {signals.get(), POLLIN, 0},
                     {parent_fd.get(), POLLIN, 0}};
    int n = poll(fds, 3, 100);  // Wakes to watch the parent and --max-hang.
    if (n < 0 && errno != EINTR) break;
    if (fds[1].revents || fds[2].revents) break;
    if (fds[0].revents) {
      char buf[4096];
      ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
      if (r <= 0) break;  // EOF: the harness is gone.
      pending.append(buf, r);
      size_t nl;
      while (running && (nl = pending.find('\n')) != std::string::npos) {
        running = Command(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    if (held.empty()) continue;
    if (max_hang_s > 0 && std::chrono::steady_clock::now() - hang_since >
                              std::chrono::seconds(max_hang_s)) {
      fprintf(stderr, "hangfs: hung for over %d s (--max-hang), releasing\n",
              max_hang_s);
      ReleaseLocked();
    } else if (IsDying(parent)) {
      fprintf(stderr, "hangfs: parent %d is dying, releasing\n", parent);
      ReleaseLocked();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    ReleaseLocked();
  }
  fuse_session_unmount(se);  // Lazy: nothing waits on the file system.
  // fuse_session_unmount leaves an aborted connection's mount alone.
  umount2(mount_point.c_str(), MNT_DETACH);
  if (remove_mount_point) rmdir(mount_point.c_str());
  Say("bye");
  _exit(0);  // Closing /dev/fuse aborts whatever is still open.
}

}  // namespace
}  // namespace hangfs
}  // namespace offlog

int main(int argc, char** argv) { return offlog::hangfs::Main(argc, argv); }
