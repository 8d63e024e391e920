#include "dynmx/status/control.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <memory>

#include "dynmx/status/json.hpp"
#include "fixtures.hpp"
#include "server_harness.hpp"

namespace dynmx::status {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::local::stream_protocol;
using namespace std::chrono_literals;

struct RequestCase {
  const char* line;
  bool ok;
  const char* commandOrError;
};

class ParseControlRequest : public ::testing::TestWithParam<RequestCase> {};

TEST_P(ParseControlRequest, Table) {
  auto r = parseControlRequest(GetParam().line);
  ASSERT_EQ(r.ok(), GetParam().ok);
  if (r.ok()) EXPECT_EQ(r->command, GetParam().commandOrError);
  else EXPECT_EQ(r.error(), GetParam().commandOrError);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseControlRequest,
    ::testing::Values(RequestCase{R"({"command": "status"})", true, "status"},
                      RequestCase{R"({"command": "update", "arguments": {"force": true}, "service": ["x"]})", true, "update"},
                      RequestCase{R"({"command": "status", "arguments": null})", true, "status"},
                      RequestCase{"", false, "request is not valid JSON"},
                      RequestCase{"status", false, "request is not valid JSON"},
                      RequestCase{R"(["status"])", false, "request must be a JSON object"},
                      RequestCase{R"({"cmd": "status"})", false, "request needs a \"command\" string"},
                      RequestCase{R"({"command": 1})", false, "request needs a \"command\" string"},
                      RequestCase{R"({"command": ""})", false, "\"command\" is empty"},
                      RequestCase{R"({"command": "x", "arguments": [1]})", false, "\"arguments\" must be an object"}));

TEST(ParseControlRequestLimits, RefusesOversizedLines) {
  std::string big = R"({"command": "status", "pad": ")" + std::string(kMaxControlRequest, 'a') + "\"}";
  auto r = parseControlRequest(big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "request too large");
}

TEST(CommandTable, UnknownCommandIsResultTwo) {
  CommandTable t;
  t.add("status", [](const ControlRequest&) { return ControlReply{0, "ok", nullptr}; });
  ControlReply r = t.dispatch({"frobnicate", nlohmann::json::object()});
  EXPECT_EQ(r.result, 2);
  EXPECT_EQ(r.text, "unknown command \"frobnicate\"");
  ControlReply l = t.dispatch({"list-commands", nlohmann::json::object()});
  EXPECT_EQ(l.result, 0);
  EXPECT_EQ(l.arguments, nlohmann::json::array({"status"}));
}

TEST(CommandTable, ThrowingHandlerIsResultOne) {
  CommandTable t;
  t.add("boom", [](const ControlRequest&) -> ControlReply { throw std::runtime_error("broken"); });
  ControlReply r = t.dispatch({"boom", nlohmann::json::object()});
  EXPECT_EQ(r.result, 1);
  EXPECT_EQ(r.text, "internal error: broken");
}

class ControlSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dynmx-ctl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0750);
    path_ = dir_ + "/control.sock";
    report_ = test::multidropMismatch();
  }
  void TearDown() override {
    if (server_) io_.call([this] {
      server_.reset();
      return 0;
    });
    fs::remove_all(dir_);
  }

  CommandTable table() {
    CommandTable t;
    t.add("status", [this](const ControlRequest&) { return ControlReply{0, "status", toJson(report_)}; });
    t.add("echo", [](const ControlRequest& r) { return ControlReply{0, "echo", r.arguments}; });
    return t;
  }

  Status<> startServer(ControlServerOptions options = {}) {
    return io_.call([&] {
      server_ = std::make_unique<ControlServer>(io_.io(), path_, table(), options);
      return server_->start();
    });
  }

  // A blocking raw client (the server runs on its own thread).
  std::unique_ptr<stream_protocol::socket> connectRaw() {
    auto s = std::make_unique<stream_protocol::socket>(clientIo_);
    s->connect(stream_protocol::endpoint(path_));
    return s;
  }
  /// One reply line. Bytes read past it (two replies in one read) stay for the next call.
  std::string readLine(stream_protocol::socket& s, boost::system::error_code& ec) {
    std::size_t n = asio::read_until(s, asio::dynamic_buffer(unread_), '\n', ec);
    if (ec) return std::string();
    std::string line = unread_.substr(0, n - 1);
    unread_.erase(0, n);
    return line;
  }
  std::string unread_;

  test::IoThread io_;
  asio::io_context clientIo_;
  std::unique_ptr<ControlServer> server_;
  std::string dir_;
  std::string path_;
  Report report_;
};

TEST_F(ControlSocket, AnswersStatusWithTheReport) {
  ASSERT_TRUE(startServer().ok());
  auto reply = controlQuery(path_, {"status", nlohmann::json::object()}, 3s);
  ASSERT_TRUE(reply.ok()) << reply.error();
  EXPECT_EQ(reply->result, 0);
  auto report = reportFromJson(reply->arguments);
  ASSERT_TRUE(report.ok()) << report.error();
  EXPECT_EQ(toJson(*report), toJson(report_));
}

TEST_F(ControlSocket, UnknownCommandOverTheWire) {
  ASSERT_TRUE(startServer().ok());
  auto reply = controlQuery(path_, {"reboot", nlohmann::json::object()}, 3s);
  ASSERT_TRUE(reply.ok()) << reply.error();
  EXPECT_EQ(reply->result, 2);
  EXPECT_EQ(reply->text, "unknown command \"reboot\"");
}

TEST_F(ControlSocket, SocketIsMode0660) {
  ASSERT_TRUE(startServer().ok());
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ControlSocket, StopRemovesTheSocketFile) {
  ASSERT_TRUE(startServer().ok());
  io_.call([this] {
    server_.reset();
    return 0;
  });
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_)));
}

TEST_F(ControlSocket, ReplacesAStaleSocketFile) {
  {
    // Leave a socket file behind with nobody listening (as after a SIGKILL).
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ASSERT_TRUE(fs::exists(fs::symlink_status(path_)));
  auto started = startServer();
  ASSERT_TRUE(started.ok()) << started.error();
  EXPECT_TRUE(controlQuery(path_, {"status", nlohmann::json::object()}, 3s).ok());
}

TEST_F(ControlSocket, RefusesWhenSomethingAnswers) {
  ASSERT_TRUE(startServer().ok());
  auto second = io_.call([this] {
    ControlServer other(io_.io(), path_, table());
    return other.start();
  });
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().find("another process answers"), std::string::npos) << second.error();
  // The first server still works: the refused one did not unlink its socket.
  EXPECT_TRUE(controlQuery(path_, {"status", nlohmann::json::object()}, 3s).ok());
}

TEST_F(ControlSocket, RefusesARegularFile) {
  std::ofstream(path_) << "not a socket";
  auto started = startServer();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().find("is not a socket"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(path_));
}

TEST_F(ControlSocket, RefusesWorldWritableDirectoryWithoutStickyBit) {
  ::chmod(dir_.c_str(), 0777);
  auto started = startServer();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().find("world-writable"), std::string::npos);
  ::chmod(dir_.c_str(), 01777);
  EXPECT_TRUE(startServer().ok());
}

TEST_F(ControlSocket, GarbageLineGetsAnErrorAndTheConnectionStaysUsable) {
  ASSERT_TRUE(startServer().ok());
  auto s = connectRaw();
  asio::write(*s, asio::buffer(std::string("{oops\n{\"command\": \"echo\", \"arguments\": {\"a\": 1}}\n")));
  boost::system::error_code ec;
  auto first = parseControlReply(readLine(*s, ec));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->result, 1);
  EXPECT_EQ(first->text, "request is not valid JSON");
  auto second = parseControlReply(readLine(*s, ec));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->result, 0);
  EXPECT_EQ(second->arguments, nlohmann::json({{"a", 1}}));
}

TEST_F(ControlSocket, OversizedRequestIsRefusedAndClosed) {
  ASSERT_TRUE(startServer().ok());
  auto s = connectRaw();
  std::string big(kMaxControlRequest + 10, 'x');
  boost::system::error_code ec;
  asio::write(*s, asio::buffer(big), ec);
  auto reply = parseControlReply(readLine(*s, ec));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->result, 1);
  EXPECT_EQ(reply->text, "request too large");
  readLine(*s, ec);
  // Linux reports a reset when the server closed with our excess bytes unread.
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}

TEST_F(ControlSocket, IdleClientIsDisconnected) {
  ASSERT_TRUE(startServer({.readTimeout = 100ms}).ok());
  auto s = connectRaw();
  asio::write(*s, asio::buffer(std::string("{\"command\": ")));  // never finished
  boost::system::error_code ec;
  readLine(*s, ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(ControlSocket, ManyClientsAtOnce) {
  ASSERT_TRUE(startServer().ok());
  std::vector<std::unique_ptr<stream_protocol::socket>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(connectRaw());
  for (std::size_t i = 0; i < clients.size(); ++i)
    asio::write(*clients[i], asio::buffer("{\"command\": \"echo\", \"arguments\": {\"i\": " + std::to_string(i) + "}}\n"));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    boost::system::error_code ec;
    auto reply = parseControlReply(readLine(*clients[i], ec));
    ASSERT_TRUE(reply.ok()) << i;
    EXPECT_EQ(reply->arguments["i"], i);
  }
}

TEST_F(ControlSocket, QueryWithoutServerFails) {
  auto reply = controlQuery(path_, {"status", nlohmann::json::object()}, 3s);
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().find(path_), std::string::npos);
}

TEST_F(ControlSocket, QueryTimesOutOnASilentPeer) {
  // Listening but never accepting: the connect succeeds, no answer ever comes.
  stream_protocol::acceptor silent(clientIo_, stream_protocol::endpoint(path_));
  auto reply = controlQuery(path_, {"status", nlohmann::json::object()}, 100ms);
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().find("no answer within 100 ms"), std::string::npos) << reply.error();
}

}  // namespace
}  // namespace dynmx::status
