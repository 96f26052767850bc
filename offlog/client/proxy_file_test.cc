#include "offlog/client/proxy_file.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/client/abspath.h"
#include "offlog/client/sync_proxy_file.h"
#include "offlog/testing/test_peer.h"

namespace offlog {
namespace {

using ::offlog::client_test::PeerConnection;
using ::offlog::client_test::TempDir;
using ::offlog::client_test::TestListener;

constexpr absl::Duration kLong = absl::Seconds(30);

class ProxyFileTest : public client_test::PeerTest {
 protected:
  void SetUp() override {
    PeerTest::SetUp();
    options_.socket_path = socket_path_;
  }

  // Runs `serve` on the next accepted connection in a thread.
  template <typename F>
  std::thread Serve(F serve) {
    return std::thread([this, serve]() mutable {
      absl::StatusOr<PeerConnection> conn = listener_->Accept(kLong);
      ASSERT_TRUE(conn.ok()) << conn.status();
      serve(*conn);
    });
  }

  // Accepts, checks the handshake and confirms the open.
  static void AcceptOpen(PeerConnection& conn) {
    absl::StatusOr<std::string> path = conn.ReadHandshake(kLong);
    ASSERT_TRUE(path.ok()) << path.status();
    ASSERT_TRUE(conn.SendMessage("OK").ok());
  }

  // Reads everything until the client closes, then says goodbye.
  static void DrainAndBye(PeerConnection& conn, std::string* received) {
    absl::StatusOr<std::string> data = conn.ReadToEnd(kLong);
    ASSERT_TRUE(data.ok()) << data.status();
    *received = *data;
    ASSERT_TRUE(conn.SendMessage("BYE").ok());
  }

  ProxyFileOptions options_;
};

TEST_F(ProxyFileTest, OpenSendsAbsolutePathWritesAndCloses) {
  std::string handshake, received;
  std::thread peer = Serve([&](PeerConnection& conn) {
    handshake = *conn.ReadHandshake(kLong);
    ASSERT_TRUE(conn.SendMessage("OK").ok());
    DrainAndBye(conn, &received);
  });
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("sub/../x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  std::string binary("line one\n\0\xff\x01 two\n", 16);
  ASSERT_TRUE(file->Write(binary).ok());
  ASSERT_TRUE(file->Write("").ok());
  ASSERT_TRUE(file->Write("end\n").ok());
  EXPECT_TRUE(file->Close().ok());
  peer.join();
  EXPECT_EQ(handshake, *AbsolutePath("x.log"));
  EXPECT_EQ(received, binary + "end\n");
  EXPECT_FALSE(file->is_open());
  EXPECT_TRUE(file->Close().ok());  // Idempotent.
  EXPECT_TRUE(absl::IsFailedPrecondition(file->Write("late")));
}

TEST_F(ProxyFileTest, OpenTimesOutAtTheTimeoutWhenServerIsSilent) {
  absl::Notification done;
  bool peer_gave_up = false;
  std::thread peer = Serve([&](PeerConnection& conn) {
    ASSERT_TRUE(conn.ReadHandshake(kLong).ok());
    peer_gave_up = !done.WaitForNotificationWithTimeout(kLong);
  });
  options_.timeout_ms = 300;
  absl::Time start = absl::Now();
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  absl::Duration elapsed = absl::Now() - start;
  done.Notify();
  peer.join();
  EXPECT_TRUE(absl::IsDeadlineExceeded(file.status())) << file.status();
  EXPECT_EQ(file.status().message(), "no response from server");
  EXPECT_GE(elapsed, absl::Milliseconds(300));
  // It gave up on its own timeout, while the peer still held the connection
  // open (no upper bound on the time: a loaded machine may take any).
  EXPECT_FALSE(peer_gave_up);
}

TEST_F(ProxyFileTest, MissingSocketIsNotFound) {
  options_.socket_path = dir_->path() + "/nothing.sock";
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  EXPECT_TRUE(absl::IsNotFound(file.status())) << file.status();
  EXPECT_EQ(file.status().message(),
            absl::StrCat("server socket ", options_.socket_path, " not found"));
}

TEST_F(ProxyFileTest, EmbeddedNulIsInvalidArgument) {
  absl::StatusOr<ProxyFile> file =
      ProxyFile::Open(absl::string_view("/tmp/a\0b", 8), options_);
  EXPECT_TRUE(absl::IsInvalidArgument(file.status())) << file.status();
  EXPECT_EQ(file.status().message(), "embedded null byte in filepath");
}

TEST_F(ProxyFileTest, OpenErrorIsTheServersTextExactly) {
  const std::string error =
      "FileNotFoundError: [Errno 2] No such file or directory: "
      "'/no/dir/x.log'";
  std::thread peer = Serve([&](PeerConnection& conn) {
    ASSERT_TRUE(conn.ReadHandshake(kLong).ok());
    ASSERT_TRUE(conn.SendMessage(error).ok());
    conn.Close();
  });
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/no/dir/x.log", options_);
  peer.join();
  EXPECT_TRUE(absl::IsNotFound(file.status())) << file.status();
  EXPECT_EQ(file.status().message(), error);
}

TEST_F(ProxyFileTest, WriteReturnsErrorServerSentBeforeClosing) {
  const std::string error = "OSError: [Errno 28] No space left on device";
  absl::Notification closed;
  std::thread peer = Serve([&](PeerConnection& conn) {
    AcceptOpen(conn);
    ASSERT_TRUE(conn.ReadExactly(6, kLong).ok());
    ASSERT_TRUE(conn.SendMessage(error).ok());
    conn.Close();
    closed.Notify();
  });
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write("first\n").ok());
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(kLong));
  absl::Status status = file->Write("second\n");
  EXPECT_EQ(status.message(), error);
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_EQ(file->Write("third\n"), status);  // Sticky.
  EXPECT_FALSE(file->is_open());
  EXPECT_TRUE(file->Close().ok());
  peer.join();
}

TEST_F(ProxyFileTest, NonBlockingOpenErrorArrivesOnWrite) {
  const std::string error =
      "IsADirectoryError: [Errno 21] Is a directory: '/tmp'";
  absl::Notification closed;
  std::thread peer = Serve([&](PeerConnection& conn) {
    ASSERT_TRUE(conn.ReadHandshake(kLong).ok());
    ASSERT_TRUE(conn.SendMessage(error).ok());
    conn.Close();
    closed.Notify();
  });
  options_.block_open = false;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(kLong));
  absl::Status status = file->Write("data");
  EXPECT_EQ(status.message(), error);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  peer.join();
}

TEST_F(ProxyFileTest, QueuesWhatTheSocketCannotTakeAndCloseDeliversAllInOrder) {
  absl::Notification drain;
  std::string received;
  std::thread peer = Serve([&](PeerConnection& conn) {
    ASSERT_TRUE(conn.SetReceiveBuffer(1024).ok());
    AcceptOpen(conn);
    drain.WaitForNotificationWithTimeout(kLong);
    DrainAndBye(conn, &received);
  });
  options_.send_buffer_bytes = 4096;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  std::string expected;
  size_t max_queued = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string record =
        absl::StrFormat("record %d %s\n", i, std::string(i % 150, 'x'));
    ASSERT_TRUE(file->Write(record).ok());
    expected += record;
    max_queued = std::max(max_queued, file->queued_bytes());
  }
  EXPECT_GT(max_queued, expected.size() / 2);
  drain.Notify();
  EXPECT_TRUE(file->Close().ok());
  peer.join();
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected);
}

TEST_F(ProxyFileTest, WriteLargerThanTheBoundIsQueuedWholeNotCut) {
  absl::Notification drain;
  std::string received;
  std::thread peer = Serve([&](PeerConnection& conn) {
    ASSERT_TRUE(conn.SetReceiveBuffer(1024).ok());
    AcceptOpen(conn);
    drain.WaitForNotificationWithTimeout(kLong);
    DrainAndBye(conn, &received);
  });
  options_.send_buffer_bytes = 4096;
  options_.max_queued_bytes = 4096;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  // The socket takes the start of it, so the rest is queued past the bound.
  std::string big = std::string(1 << 20, 'b') + "\n";
  ASSERT_TRUE(file->Write(big).ok());
  EXPECT_GT(file->queued_bytes(), options_.max_queued_bytes);
  EXPECT_EQ(file->dropped_writes(), 0u);
  // Nothing more fits now: dropped whole, and Write() still says OK.
  ASSERT_TRUE(file->Write("small\n").ok());
  EXPECT_EQ(file->dropped_writes(), 1u);
  EXPECT_EQ(file->dropped_bytes(), 6u);
  drain.Notify();
  EXPECT_TRUE(file->Close().ok());
  peer.join();
  EXPECT_TRUE(received == big);
}

TEST_F(ProxyFileTest, FailPolicyReturnsResourceExhaustedAndKeepsTheConnection) {
  absl::Notification drain;
  std::string received;
  std::thread peer = Serve([&](PeerConnection& conn) {
    ASSERT_TRUE(conn.SetReceiveBuffer(1024).ok());
    AcceptOpen(conn);
    drain.WaitForNotificationWithTimeout(kLong);
    DrainAndBye(conn, &received);
  });
  options_.send_buffer_bytes = 4096;
  options_.max_queued_bytes = 8192;
  options_.overflow_policy = OverflowPolicy::kFail;
  absl::StatusOr<std::unique_ptr<SyncProxyFile>> file =
      SyncProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  std::string expected;
  absl::Status status;
  for (int i = 0; status.ok(); ++i) {
    std::string record = absl::StrFormat("record %04d\n", i);
    status = (*file)->Write(record);
    if (status.ok()) expected += record;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), "offlog client queue full"))
      << status;
  EXPECT_EQ((*file)->dropped_writes(), 1u);
  EXPECT_EQ((*file)->dropped_bytes(), 12u);
  EXPECT_LE((*file)->queued_bytes(), options_.max_queued_bytes);
  drain.Notify();
  EXPECT_TRUE((*file)->WaitWritten(absl::Now() + kLong).ok());
  EXPECT_TRUE((*file)->Write("last\n").ok());
  expected += "last\n";
  EXPECT_TRUE((*file)->Close().ok());
  peer.join();
  EXPECT_TRUE(received == expected);
}

TEST_F(ProxyFileTest, OverflowPolicyNames) {
  for (OverflowPolicy policy :
       {OverflowPolicy::kDrop, OverflowPolicy::kFail, OverflowPolicy::kBlock}) {
    EXPECT_EQ(ParseOverflowPolicy(OverflowPolicyName(policy)), policy);
  }
  EXPECT_EQ(ParseOverflowPolicy("Drop"), std::nullopt);
}

TEST_F(ProxyFileTest, CloseGivesUpFlushingAfterTheTimeout) {
  absl::Notification done;
  bool peer_gave_up = false;
  std::thread peer = Serve([&](PeerConnection& conn) {
    AcceptOpen(conn);
    peer_gave_up = !done.WaitForNotificationWithTimeout(kLong);
  });
  options_.timeout_ms = 200;
  options_.send_buffer_bytes = 4096;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write(std::string(1 << 20, 'q')).ok());
  size_t queued = file->queued_bytes();
  ASSERT_GT(queued, 0u);
  absl::Time start = absl::Now();
  absl::Status status = file->Close();
  absl::Duration elapsed = absl::Now() - start;
  done.Notify();
  peer.join();
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_EQ(status.message(),
            absl::StrFormat("timed out flushing unsent data on close(). %d "
                            "bytes not sent.",
                            queued));
  EXPECT_GE(elapsed, absl::Milliseconds(200));
  // On its own timeout, with the peer still connected and reading nothing.
  EXPECT_FALSE(peer_gave_up);
  EXPECT_FALSE(file->is_open());
}

TEST_F(ProxyFileTest, CloseWaitsForByeAndTimesOutWithoutIt) {
  absl::Notification done;
  std::thread peer = Serve([&](PeerConnection& conn) {
    AcceptOpen(conn);
    ASSERT_TRUE(conn.ReadToEnd(kLong).ok());
    done.WaitForNotificationWithTimeout(kLong);
  });
  options_.timeout_ms = 200;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::Status status = file->Close();
  done.Notify();
  peer.join();
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_EQ(status.message(), "no response from server");
}

TEST_F(ProxyFileTest, CloseWithoutBlockCloseDoesNotWaitForBye) {
  absl::Notification done;
  bool peer_gave_up = false;
  std::thread peer = Serve([&](PeerConnection& conn) {
    AcceptOpen(conn);
    ASSERT_TRUE(conn.ReadToEnd(kLong).ok());
    peer_gave_up = !done.WaitForNotificationWithTimeout(kLong);
  });
  // Longer than the peer waits: a Close() that waited for BYE would outlast
  // the peer, which would notice.
  options_.timeout_ms = absl::ToInt64Milliseconds(2 * kLong);
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->Close(true, false).ok());
  EXPECT_FALSE(file->is_open());
  done.Notify();
  peer.join();
  EXPECT_FALSE(peer_gave_up);  // Close() returned without BYE.
}

TEST_F(ProxyFileTest, RotationIsReportedAndCloseIgnoresOkAndRotated) {
  absl::Notification rotated;
  std::string received;
  std::thread peer = Serve([&](PeerConnection& conn) {
    ASSERT_TRUE(conn.ReadHandshake(kLong).ok());
    ASSERT_TRUE(conn.SendMessage("OK").ok());
    ASSERT_TRUE(conn.SendMessage("ROTATED").ok());
    rotated.Notify();
    ASSERT_TRUE(conn.SendMessage("ROTATED").ok());
    DrainAndBye(conn, &received);
  });
  options_.block_open = false;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(rotated.WaitForNotificationWithTimeout(kLong));
  absl::StatusOr<bool> is_rotated = file->CheckRotated();
  ASSERT_TRUE(is_rotated.ok()) << is_rotated.status();
  EXPECT_TRUE(*is_rotated);
  EXPECT_TRUE(*file->CheckRotated());
  ASSERT_TRUE(file->Write("x").ok());
  EXPECT_TRUE(file->Close().ok());
  peer.join();
  EXPECT_EQ(received, "x");
}

TEST_F(ProxyFileTest, NotRotatedUntilTold) {
  std::thread peer = Serve([&](PeerConnection& conn) {
    AcceptOpen(conn);
    std::string ignored;
    DrainAndBye(conn, &ignored);
  });
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<bool> is_rotated = file->CheckRotated();
  ASSERT_TRUE(is_rotated.ok()) << is_rotated.status();
  EXPECT_FALSE(*is_rotated);
  EXPECT_TRUE(file->Close().ok());
  peer.join();
}

TEST_F(ProxyFileTest, MovedFileKeepsTheConnectionAndDestructorCloses) {
  std::string received;
  std::thread peer = Serve([&](PeerConnection& conn) {
    AcceptOpen(conn);
    DrainAndBye(conn, &received);
  });
  {
    absl::StatusOr<ProxyFile> file = ProxyFile::Open("/tmp/x.log", options_);
    ASSERT_TRUE(file.ok()) << file.status();
    ProxyFile moved = std::move(*file);
    EXPECT_FALSE(file->is_open());
    ASSERT_TRUE(moved.Write("moved").ok());
  }
  peer.join();
  EXPECT_EQ(received, "moved");
}

TEST_F(ProxyFileTest, SyncProxyFileKeepsRecordsWholeAcrossThreads) {
  std::string received;
  std::thread peer = Serve([&](PeerConnection& conn) {
    AcceptOpen(conn);
    DrainAndBye(conn, &received);
  });
  absl::StatusOr<std::unique_ptr<SyncProxyFile>> file =
      SyncProxyFile::Open("/tmp/x.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  constexpr int kThreads = 4, kRecords = 2000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kRecords; ++i) {
        ASSERT_TRUE((*file)->Write(absl::StrFormat("%d %d\n", t, i)).ok());
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_TRUE((*file)->Close().ok());
  peer.join();
  std::vector<int> next(kThreads, 0);
  for (absl::string_view line :
       absl::StrSplit(received, '\n', absl::SkipEmpty())) {
    int t = -1, i = -1;
    ASSERT_EQ(std::sscanf(std::string(line).c_str(), "%d %d", &t, &i), 2);
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_EQ(i, next[t]++) << line;
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kRecords);
}

}  // namespace
}  // namespace offlog
