// makeUpdater against in-process fake servers on loopback: TCP fallback on TC and for
// over-size messages, the next server after SERVFAIL, the primary found through the SOA.
// No timer fires in these tests: every exchange is answered.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <memory>

#include "dynmx/dnsupdate.hpp"
#include "test_answers.hpp"

namespace dynmx::dnsupdate {
namespace {

namespace asio = boost::asio;
using Bytes = std::vector<std::uint8_t>;
using Answerer = std::function<Bytes(const Bytes& query, bool tcp)>;

/// A DNS server on 127.0.0.1 (UDP and TCP, one port) answering with `answerer`.
class FakeServer {
 public:
  FakeServer(asio::io_context& io, Answerer answerer)
      : udp_(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        acceptor_(io,
                  asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), udp_.local_endpoint().port())),
        answerer_(std::move(answerer)) {
    receive();
    accept();
  }
  int port() const { return udp_.local_endpoint().port(); }
  int udpQueries = 0;
  int tcpQueries = 0;

 private:
  void receive() {
    buf_.resize(65535);
    udp_.async_receive_from(asio::buffer(buf_), from_,
                            [this](const boost::system::error_code& ec, std::size_t n) {
                              if (ec) return;
                              ++udpQueries;
                              Bytes q(buf_.begin(), buf_.begin() + static_cast<long>(n));
                              Bytes a = answerer_(q, false);
                              if (!a.empty()) udp_.send_to(asio::buffer(a), from_);
                              receive();
                            });
  }
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, asio::ip::tcp::socket s) {
      if (ec) return;
      auto sock = std::make_shared<asio::ip::tcp::socket>(std::move(s));
      auto len = std::make_shared<std::array<std::uint8_t, 2>>();
      asio::async_read(
          *sock, asio::buffer(*len), [this, sock, len](const boost::system::error_code& e, std::size_t) {
            if (e) return;
            auto body = std::make_shared<Bytes>((std::size_t{(*len)[0]} << 8) | (*len)[1]);
            asio::async_read(*sock, asio::buffer(*body),
                             [this, sock, body](const boost::system::error_code& e2, std::size_t) {
                               if (e2) return;
                               ++tcpQueries;
                               Bytes a = answerer_(*body, true);
                               auto out = std::make_shared<Bytes>();
                               out->push_back(static_cast<std::uint8_t>(a.size() >> 8));
                               out->push_back(static_cast<std::uint8_t>(a.size() & 0xff));
                               out->insert(out->end(), a.begin(), a.end());
                               asio::async_write(
                                   *sock, asio::buffer(*out),
                                   [sock, out](const boost::system::error_code&, std::size_t) {});
                             });
          });
      accept();
    });
  }
  asio::ip::udp::socket udp_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::udp::endpoint from_;
  Bytes buf_;
  Answerer answerer_;
};

UpdateMessage aRecord() {
  return UpdateMessage{
      "example.test",
      {},
      {Change{Change::Kind::ReplaceRRset, RRset{"office.example.test", RecordType::A, 60, {"203.0.113.7"}}}}};
}

UpdateOutcome run(asio::io_context& io, UpdaterConfig config, UpdateMessage m) {
  auto updater = makeUpdater(io, std::move(config));
  std::optional<UpdateOutcome> out;
  updater->send(std::move(m), [&](UpdateOutcome o) {
    out = std::move(o);
    io.stop();
  });
  io.run_for(std::chrono::seconds(20));  // a safety net only; the answer stops the loop
  EXPECT_TRUE(out.has_value()) << "no outcome";
  return out.value_or(UpdateOutcome{});
}

Answerer answering(unsigned rcode, bool truncateUdp = false) {
  return [rcode, truncateUdp](const Bytes& q, bool tcp) {
    auto req = testing::fromWire(q, testing::key256());
    return testing::answer(req, {.rcode = rcode, .truncated = truncateUdp && !tcp});
  };
}

TEST(Updater, AppliedOverUdp) {
  asio::io_context io;
  FakeServer server(io, answering(0));
  auto o = run(io, UpdaterConfig{{{"127.0.0.1", server.port()}}, {}, testing::key256()}, aRecord());
  EXPECT_EQ(o.verdict, Verdict::Applied) << o.detail;
  EXPECT_FALSE(o.overTcp);
  EXPECT_EQ(server.udpQueries, 1);
  EXPECT_EQ(server.tcpQueries, 0);
  EXPECT_EQ(o.server, "127.0.0.1:" + std::to_string(server.port()));
}

TEST(Updater, TruncatedAnswerFallsBackToTcp) {
  asio::io_context io;
  FakeServer server(io, answering(0, /*truncateUdp=*/true));
  auto o = run(io, UpdaterConfig{{{"127.0.0.1", server.port()}}, {}, testing::key256()}, aRecord());
  EXPECT_EQ(o.verdict, Verdict::Applied) << o.detail;
  EXPECT_TRUE(o.overTcp);
  EXPECT_EQ(server.udpQueries, 1);
  EXPECT_EQ(server.tcpQueries, 1);
}

TEST(Updater, OversizeMessageGoesStraightToTcp) {
  asio::io_context io;
  FakeServer server(io, answering(0));
  UpdateMessage m = aRecord();
  for (int i = 0; i < 40; ++i) m.changes[0].rrset.records.push_back("203.0.113." + std::to_string(i + 10));
  auto o = run(io, UpdaterConfig{{{"127.0.0.1", server.port()}}, {}, testing::key256()}, m);
  EXPECT_EQ(o.verdict, Verdict::Applied) << o.detail;
  EXPECT_TRUE(o.overTcp);
  EXPECT_EQ(server.udpQueries, 0);
  EXPECT_EQ(server.tcpQueries, 1);
}

TEST(Updater, ServfailMovesToTheNextServerFatalDoesNot) {
  asio::io_context io;
  FakeServer failing(io, answering(2));
  FakeServer good(io, answering(0));
  FakeServer refusing(io, answering(5));
  auto o = run(
      io, UpdaterConfig{{{"127.0.0.1", failing.port()}, {"127.0.0.1", good.port()}}, {}, testing::key256()},
      aRecord());
  EXPECT_EQ(o.verdict, Verdict::Applied) << o.detail;
  EXPECT_EQ(failing.udpQueries, 1);
  EXPECT_EQ(good.udpQueries, 1);

  asio::io_context io2;
  FakeServer refusing2(io2, answering(5));
  FakeServer good2(io2, answering(0));
  auto r = run(
      io2,
      UpdaterConfig{{{"127.0.0.1", refusing2.port()}, {"127.0.0.1", good2.port()}}, {}, testing::key256()},
      aRecord());
  EXPECT_EQ(r.verdict, Verdict::Fatal);
  EXPECT_EQ(r.rcode, "REFUSED");
  EXPECT_EQ(good2.udpQueries, 0);
}

TEST(Updater, FindsThePrimaryThroughTheSoaMname) {
  asio::io_context io;
  FakeServer primary(io, answering(0));
  FakeServer resolver(io, [](const Bytes& q, bool) {
    ldns_pkt* pkt = nullptr;
    ldns_wire2pkt(&pkt, q.data(), q.size());
    const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
    ldns_rr_type type = ldns_rr_get_type(question);
    ldns_pkt_free(pkt);
    if (type == LDNS_RR_TYPE_SOA)
      return testing::queryAnswer(
          q, {"example.test. 300 IN SOA ns1.example.test. admin.example.test. 1 3600 600 86400 60"});
    if (type == LDNS_RR_TYPE_A) return testing::queryAnswer(q, {"ns1.example.test. 300 IN A 127.0.0.1"});
    return testing::queryAnswer(q, {});
  });
  UpdaterConfig config{{}, {{"127.0.0.1", resolver.port()}}, testing::key256()};
  config.primaryPort = primary.port();
  auto o = run(io, config, aRecord());
  EXPECT_EQ(o.verdict, Verdict::Applied) << o.detail;
  EXPECT_EQ(o.server, "127.0.0.1:" + std::to_string(primary.port()));
  EXPECT_EQ(resolver.udpQueries, 3);  // SOA, A, AAAA
  EXPECT_EQ(primary.udpQueries, 1);
}

TEST(Updater, NoSoaIsRetryAndSaysSo) {
  asio::io_context io;
  FakeServer resolver(io, [](const Bytes& q, bool) { return testing::queryAnswer(q, {}); });
  auto o = run(io, UpdaterConfig{{}, {{"127.0.0.1", resolver.port()}}, testing::key256()}, aRecord());
  EXPECT_EQ(o.verdict, Verdict::Retry);
  EXPECT_EQ(o.rcode, "no-primary");
  EXPECT_NE(o.detail.find("SOA of zone example.test"), std::string::npos) << o.detail;
}

TEST(Updater, SkewedSigningClockReachesTheWire) {
  asio::io_context io;
  long long seen = 0;
  FakeServer server(io, [&seen](const Bytes& q, bool) {
    seen = testing::parse(q).tsigTime;
    auto req = testing::fromWire(q, testing::key256());
    return testing::answer(req, {.rcode = 9, .tsigError = 18});
  });
  UpdaterConfig config{{{"127.0.0.1", server.port()}}, {}, testing::key256()};
  config.signingClock = [] { return fromUnix(1'000'000'000); };
  auto o = run(io, config, aRecord());
  EXPECT_EQ(seen, 1'000'000'000);
  EXPECT_EQ(o.verdict, Verdict::BackOff);
  EXPECT_EQ(o.rcode, "BADTIME");
}

}  // namespace
}  // namespace dynmx::dnsupdate
