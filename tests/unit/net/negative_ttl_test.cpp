// How long resolvers may cache "no such record" (RFC 2308 §5), read from a reply's
// authority section: the way back from offline=YES waits for it.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "dynmx/ldns_cxx.hpp"
#include "dynmx/net/dns_resolver.hpp"

namespace dynmx::net {
namespace {

/// A reply to `office.example.com A` with `rcode` and the given authority records (zone
/// file syntax), in wire format (built by ldns, as a server sends it).
std::vector<unsigned char> reply(ldns_pkt_rcode rcode, const std::vector<const char*>& authority) {
  ldns_pkt* pkt = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&pkt, "office.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0),
            LDNS_STATUS_OK);
  ldns_pkt_set_qr(pkt, true);
  ldns_pkt_set_aa(pkt, true);
  ldns_pkt_set_rcode(pkt, static_cast<uint8_t>(rcode));
  for (const char* text : authority) {
    ldns_rr* rr = nullptr;
    EXPECT_EQ(ldns_rr_new_frm_str(&rr, text, 3600, nullptr, nullptr), LDNS_STATUS_OK) << text;
    ldns_pkt_push_rr(pkt, LDNS_SECTION_AUTHORITY, rr);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, pkt, &size), LDNS_STATUS_OK);
  std::vector<unsigned char> out(wire, wire + size);
  LDNS_FREE(wire);
  ldns_pkt_free(pkt);
  return out;
}

TEST(NegativeCacheTtl, TheSmallerOfTheSoaTtlAndItsMinimum) {
  auto r = reply(LDNS_RCODE_NXDOMAIN,
                 {"example.com. 600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300"});
  EXPECT_EQ(negativeCacheTtl(r.data(), r.size()), 300u);
  r = reply(LDNS_RCODE_NOERROR,
            {"example.com. 120 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 900"});
  EXPECT_EQ(negativeCacheTtl(r.data(), r.size()), 120u) << "NODATA: the SOA record's own TTL is smaller";
}

TEST(NegativeCacheTtl, NoSoaOrABrokenReplyGivesNone) {
  auto r = reply(LDNS_RCODE_NXDOMAIN, {"example.com. 600 IN NS ns1.example.com."});
  EXPECT_EQ(negativeCacheTtl(r.data(), r.size()), std::nullopt);
  r = reply(LDNS_RCODE_NXDOMAIN, {});
  EXPECT_EQ(negativeCacheTtl(r.data(), r.size()), std::nullopt);
  auto full = reply(LDNS_RCODE_NXDOMAIN,
                    {"example.com. 600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300"});
  EXPECT_EQ(negativeCacheTtl(full.data(), full.size() - 7), std::nullopt) << "truncated inside the SOA";
  EXPECT_EQ(negativeCacheTtl(nullptr, 0), std::nullopt);
}

}  // namespace
}  // namespace dynmx::net
