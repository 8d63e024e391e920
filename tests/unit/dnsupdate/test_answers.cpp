#include "test_answers.hpp"

#include <cstdlib>
#include <stdexcept>

namespace dynmx::dnsupdate::testing {
namespace {

std::string str(const ldns_rdf* rdf) {
  if (rdf == nullptr) return "";
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  std::free(s);  // NOLINT
  return out;
}

std::string noDot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::vector<Rr> flatten(const ldns_rr_list* list) {
  std::vector<Rr> out;
  for (std::size_t i = 0; list != nullptr && i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    Rr r;
    r.owner = noDot(str(ldns_rr_owner(rr)));
    char* t = ldns_rr_type2str(ldns_rr_get_type(rr));
    r.type = t;
    std::free(t);  // NOLINT
    char* c = ldns_rr_class2str(ldns_rr_get_class(rr));
    r.cls = c;
    std::free(c);  // NOLINT
    r.ttl = ldns_rr_ttl(rr);
    for (std::size_t k = 0; k < ldns_rr_rd_count(rr); ++k) {
      if (k) r.rdata += " ";
      r.rdata += str(ldns_rr_rdf(rr, k));
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace

TsigKey key256() {
  return TsigKey{"dynmx-test", TsigAlgorithm::HmacSha256, kSecret256, "test"};
}
TsigKey key512() {
  return TsigKey{"dynmx-test-512", TsigAlgorithm::HmacSha512, kSecret512, "test"};
}

Parsed parse(const std::vector<std::uint8_t>& wire) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, wire.data(), wire.size()) != LDNS_STATUS_OK)
    throw std::runtime_error("unparseable");
  Parsed p;
  const ldns_rr* q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
  p.zone = noDot(str(ldns_rr_owner(q)));
  char* t = ldns_rr_type2str(ldns_rr_get_type(q));
  p.zoneType = t;
  std::free(t);  // NOLINT
  p.prereqs = flatten(ldns_pkt_answer(pkt));
  p.updates = flatten(ldns_pkt_authority(pkt));
  p.opcode = static_cast<int>(ldns_pkt_get_opcode(pkt));
  p.id = ldns_pkt_id(pkt);
  if (const ldns_rr* tsig = ldns_pkt_tsig(pkt)) {
    p.hasTsig = true;
    p.tsigAlgorithm = noDot(str(ldns_rr_rdf(tsig, 0)));
    const std::uint8_t* d = ldns_rdf_data(ldns_rr_rdf(tsig, 1));
    for (int i = 0; i < 6; ++i) p.tsigTime = (p.tsigTime << 8) | d[i];
  }
  ldns_pkt_free(pkt);
  return p;
}

std::vector<std::uint8_t> answer(const SignedUpdate& request, const AnswerSpec& spec) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, request.wire.data(), request.wire.size()) != LDNS_STATUS_OK)
    throw std::runtime_error("request unparseable");
  ldns_rr* old = ldns_pkt_tsig(pkt);
  ldns_pkt_set_tsig(pkt, nullptr);
  ldns_rr_free(old);
  ldns_pkt_set_qr(pkt, true);
  ldns_pkt_set_tc(pkt, spec.truncated);
  ldns_pkt_set_rcode(pkt, static_cast<std::uint8_t>(spec.rcode));
  if (spec.id) ldns_pkt_set_id(pkt, *spec.id);
  if (spec.sign) {
    TsigKey k = spec.signKey.value_or(TsigKey{request.keyName.substr(0, request.keyName.size() - 1),
                                              TsigAlgorithm::HmacSha256, request.keySecret, ""});
    if (spec.signKey) k = *spec.signKey;
    std::string alg = parse(request.wire).tsigAlgorithm + ".";
    ldns_rdf* mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, request.mac.size(), request.mac.data());
    if (ldns_pkt_tsig_sign(pkt, (k.name + ".").c_str(), k.secret.c_str(), 300, alg.c_str(), mac) !=
        LDNS_STATUS_OK)
      throw std::runtime_error("cannot sign answer");
    ldns_rdf_deep_free(mac);
    if (spec.tsigError != 0) {
      ldns_rr* tsig = ldns_pkt_tsig(pkt);
      ldns_rdf_deep_free(ldns_rr_set_rdf(
          tsig, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, static_cast<std::uint16_t>(spec.tsigError)), 5));
      ldns_rdf_deep_free(ldns_rr_set_rdf(tsig, ldns_native2rdf_int16_data(0, nullptr), 3));
    }
  }
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK) throw std::runtime_error("cannot write answer");
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire);  // NOLINT
  ldns_pkt_free(pkt);
  return out;
}

}  // namespace dynmx::dnsupdate::testing

namespace dynmx::dnsupdate::testing {

SignedUpdate fromWire(const std::vector<std::uint8_t>& wire, const TsigKey& key) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, wire.data(), wire.size()) != LDNS_STATUS_OK)
    throw std::runtime_error("unparseable");
  SignedUpdate s;
  s.wire = wire;
  s.id = ldns_pkt_id(pkt);
  const ldns_rdf* mac = ldns_rr_rdf(ldns_pkt_tsig(pkt), 3);
  s.mac.assign(ldns_rdf_data(mac), ldns_rdf_data(mac) + ldns_rdf_size(mac));
  s.keyName = key.name + ".";
  s.keySecret = key.secret;
  ldns_pkt_free(pkt);
  return s;
}

std::vector<std::uint8_t> queryAnswer(const std::vector<std::uint8_t>& query,
                                      const std::vector<std::string>& rrs) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, query.data(), query.size()) != LDNS_STATUS_OK)
    throw std::runtime_error("unparseable");
  ldns_pkt_set_qr(pkt, true);
  ldns_pkt_set_aa(pkt, true);
  for (const auto& text : rrs) {
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, text.c_str(), 300, nullptr, nullptr) != LDNS_STATUS_OK)
      throw std::runtime_error(text);
    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
  }
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  ldns_pkt2wire(&wire, pkt, &size);
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire);  // NOLINT
  ldns_pkt_free(pkt);
  return out;
}

}  // namespace dynmx::dnsupdate::testing
