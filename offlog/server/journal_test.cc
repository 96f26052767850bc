// JournalSink against a fake journald: a SOCK_DGRAM socket the test binds
// and reads, parsing what arrives as journald would.
#include "offlog/server/journal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/temp_dir.h"

namespace offlog {
namespace {

using Fields = std::map<std::string, std::string>;

// Parses one native-protocol datagram; fails the test on a malformed one.
Fields Parse(const std::string& data) {
  Fields fields;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    EXPECT_NE(nl, std::string::npos) << "unterminated field at " << pos;
    if (nl == std::string::npos) break;
    std::string line = data.substr(pos, nl - pos);
    size_t eq = line.find('=');
    if (eq != std::string::npos) {
      fields[line.substr(0, eq)] = line.substr(eq + 1);
      pos = nl + 1;
      continue;
    }
    // NAME\n, little-endian uint64 size, bytes, \n.
    pos = nl + 1;
    EXPECT_LE(pos + 8, data.size());
    if (pos + 8 > data.size()) break;
    uint64_t size = 0;
    for (int i = 0; i < 8; ++i) {
      size |= static_cast<uint64_t>(static_cast<unsigned char>(data[pos + i]))
              << (8 * i);
    }
    pos += 8;
    EXPECT_LE(pos + size + 1, data.size());
    if (pos + size + 1 > data.size()) break;
    fields[line] = data.substr(pos, size);
    EXPECT_EQ(data[pos + size], '\n');
    pos += size + 1;
  }
  return fields;
}

class FakeJournal {
 public:
  explicit FakeJournal(const std::string& path) : path_(path) {
    fd_.Reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0)
        << strerror(errno);
  }

  // The next record, read from the datagram or from a passed memfd.
  std::string Receive() {
    pollfd p = {fd_.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 10000), 1) << "nothing arrived within 10 s";
    std::string buf(1 << 20, '\0');
    iovec iov = {buf.data(), buf.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    EXPECT_GE(n, 0) << strerror(errno);
    if (n < 0) return "";
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg == nullptr) return buf.substr(0, n);
    EXPECT_EQ(n, 0) << "data beside a passed descriptor";
    EXPECT_EQ(cmsg->cmsg_type, SCM_RIGHTS);
    int raw;
    memcpy(&raw, CMSG_DATA(cmsg), sizeof(int));
    UniqueFd passed(raw);
    // journald insists on a sealed memfd.
    int seals = fcntl(passed.get(), F_GET_SEALS);
    EXPECT_EQ(seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW),
              F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
    std::string data;
    char chunk[65536];
    ssize_t r;
    while ((r = pread(passed.get(), chunk, sizeof(chunk), data.size())) > 0) {
      data.append(chunk, r);
    }
    return data;
  }

  bool Pending() {
    pollfd p = {fd_.get(), POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

TEST(EncodeJournalRecordTest, PlainFields) {
  JournalRecord r;
  r.priority = LOG_WARNING;
  r.message = "Client 3 error: disk full";
  EXPECT_EQ(EncodeJournalRecord(r),
            "PRIORITY=4\nSYSLOG_IDENTIFIER=offlogd\n"
            "MESSAGE=Client 3 error: disk full\n");
}

TEST(EncodeJournalRecordTest, OptionalFieldsAndClampedPriority) {
  JournalRecord r;
  r.priority = 42;
  r.message = "m";
  r.path = "/var/log/offlog/a.log";
  r.client_id = 12345678901234ULL;
  r.client_uid = 1000;
  Fields f = Parse(EncodeJournalRecord(r, "test"));
  EXPECT_EQ(f, (Fields{{"PRIORITY", "7"},
                       {"SYSLOG_IDENTIFIER", "test"},
                       {"MESSAGE", "m"},
                       {"OFFLOG_PATH", "/var/log/offlog/a.log"},
                       {"OFFLOG_CLIENT_ID", "12345678901234"},
                       {"OFFLOG_CLIENT_UID", "1000"}}));
  r.priority = -3;
  EXPECT_EQ(Parse(EncodeJournalRecord(r))["PRIORITY"], "0");
}

TEST(EncodeJournalRecordTest, NewlinesAndBinaryGoLengthPrefixed) {
  JournalRecord r;
  std::string message("two\nlines, a NUL \0 and = signs", 30);
  r.message = message;
  r.path = "/tmp/odd\nname.log";
  std::string encoded = EncodeJournalRecord(r);
  EXPECT_NE(encoded.find("MESSAGE\n"), std::string::npos);
  Fields f = Parse(encoded);
  EXPECT_EQ(f["MESSAGE"], message);
  EXPECT_EQ(f["OFFLOG_PATH"], "/tmp/odd\nname.log");
  EXPECT_EQ(f["PRIORITY"], "6");
}

TEST(JournalSinkTest, SendsOneDatagramPerRecord) {
  testing::TempDir dir;
  FakeJournal journal(dir.File("journal.sock"));
  absl::StatusOr<JournalSink> sink =
      JournalSink::Open(dir.File("journal.sock"));
  ASSERT_TRUE(sink.ok()) << sink.status();
  JournalRecord r;
  r.priority = LOG_ERR;
  r.message = "Writer for /srv/x.log crashed";
  r.path = "/srv/x.log";
  r.client_uid = 0;
  ASSERT_TRUE(sink->Send(r).ok());
  r.priority = LOG_INFO;
  r.message = "second";
  r.path.reset();
  r.client_uid.reset();
  r.client_id = 9;
  ASSERT_TRUE(sink->Send(r).ok());

  Fields first = Parse(journal.Receive());
  EXPECT_EQ(first, (Fields{{"PRIORITY", "3"},
                           {"SYSLOG_IDENTIFIER", "offlogd"},
                           {"MESSAGE", "Writer for /srv/x.log crashed"},
                           {"OFFLOG_PATH", "/srv/x.log"},
                           {"OFFLOG_CLIENT_UID", "0"}}));
  Fields second = Parse(journal.Receive());
  EXPECT_EQ(second, (Fields{{"PRIORITY", "6"},
                            {"SYSLOG_IDENTIFIER", "offlogd"},
                            {"MESSAGE", "second"},
                            {"OFFLOG_CLIENT_ID", "9"}}));
  EXPECT_EQ(sink->dropped(), 0u);
}

TEST(JournalSinkTest, TooLargeForADatagramGoesAsASealedMemfd) {
  testing::TempDir dir;
  FakeJournal journal(dir.File("journal.sock"));
  absl::StatusOr<JournalSink> sink =
      JournalSink::Open(dir.File("journal.sock"));
  ASSERT_TRUE(sink.ok()) << sink.status();
  // Larger than any AF_UNIX datagram (at most the 8 MiB send buffer, less
  // with a smaller net.core.wmem_max).
  std::string big(9 * 1024 * 1024, 'x');
  big[100] = '\n';
  JournalRecord r;
  r.message = big;
  ASSERT_TRUE(sink->Send(r).ok());
  Fields f = Parse(journal.Receive());
  EXPECT_EQ(f["MESSAGE"], big);
  EXPECT_EQ(f["SYSLOG_IDENTIFIER"], "offlogd");
}

TEST(JournalSinkTest, NeverBlocksWhenJournaldIsFullOrAbsent) {
  testing::TempDir dir;
  FakeJournal journal(dir.File("journal.sock"));
  absl::StatusOr<JournalSink> sink =
      JournalSink::Open(dir.File("journal.sock"));
  ASSERT_TRUE(sink.ok()) << sink.status();
  JournalRecord r;
  r.message = "filler";
  // Nobody reads: the receiver's queue fills (net.unix.max_dgram_qlen), and
  // a Send then fails at once rather than waiting.
  absl::Status status;
  int sent = 0;
  for (; sent < 100000; ++sent) {
    status = sink->Send(r);
    if (!status.ok()) break;
  }
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_EQ(sink->dropped(), 1u);
  EXPECT_TRUE(journal.Pending());

  absl::StatusOr<JournalSink> nobody = JournalSink::Open(dir.File("none.sock"));
  ASSERT_TRUE(nobody.ok());
  EXPECT_TRUE(absl::IsUnavailable(nobody->Send(r)));
  EXPECT_EQ(nobody->dropped(), 1u);
}

TEST(JournalSinkTest, RejectsBadSocketPaths) {
  EXPECT_FALSE(JournalSink::Open("").ok());
  EXPECT_FALSE(JournalSink::Open(std::string(200, 'a')).ok());
}

TEST(IsJournalStreamTest, MatchesDeviceAndInode) {
  testing::TempDir dir;
  std::string path = dir.File("stream");
  UniqueFd fd(open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  struct stat st;
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  std::string same = absl::StrCat(st.st_dev, ":", st.st_ino);
  EXPECT_TRUE(IsJournalStream(same.c_str(), fd.get()));
  std::string other = absl::StrCat(st.st_dev, ":", st.st_ino + 1);
  EXPECT_FALSE(IsJournalStream(other.c_str(), fd.get()));
  EXPECT_FALSE(IsJournalStream(nullptr, fd.get()));
  EXPECT_FALSE(IsJournalStream("", fd.get()));
  EXPECT_FALSE(IsJournalStream("12", fd.get()));
  EXPECT_FALSE(IsJournalStream("a:b", fd.get()));
  EXPECT_FALSE(IsJournalStream(same.c_str(), -1));
}

TEST(IsJournalStreamTest, StderrFollowsTheEnvironment) {
  struct stat st;
  ASSERT_EQ(fstat(STDERR_FILENO, &st), 0);
  const char* saved = getenv("JOURNAL_STREAM");
  std::string saved_value = saved ? saved : "";
  setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino).c_str(), 1);
  EXPECT_TRUE(StderrIsJournal());
  unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(StderrIsJournal());
  if (saved) setenv("JOURNAL_STREAM", saved_value.c_str(), 1);
}

}  // namespace
}  // namespace offlog
