#pragma once
// Representative policies for the fetchmail-conf tests, built directly as structs (the TOML
// parser is tested elsewhere). All names and addresses are documentation-only.
#include "dynmx/policy.hpp"

namespace dynmx::fetchmail::testing {

/// POP3 with implicit TLS, delivery by SMTP to 127.0.0.1, an ISP that adds its own
/// Delivered-To first (skip 1), a small explicit user map.
inline Policy pop3ImplicitSmtp() {
  Policy p;
  p.mail.mode = MailPolicy::Auto;
  p.mail.domains = {"example.com", "example.org"};
  p.isp.server = "pop.isp.example";
  p.isp.protocol = MailProtocol::Pop3;
  p.isp.tls = TlsMode::Implicit;
  p.isp.certificateCheck = true;
  p.isp.sslProto = "TLS1.2+";
  p.isp.user = "office@isp.example";
  p.isp.timeout = std::chrono::seconds(60);
  p.isp.keep = false;
  p.isp.fetchAll = true;
  p.envelope = {"Delivered-To", 1};
  p.users.map = {{"alice", "alice"}, {"bob", "robert"}, {"info", "alice"}};
  p.users.postmaster = "postmaster";
  p.delivery.method = DeliveryMethod::Smtp;
  p.delivery.target = {"127.0.0.1", 25};
  p.fetchmail.rcPath = "/var/lib/dynmx/fetchmailrc";
  p.fetchmail.pollInterval = std::chrono::minutes(5);
  return p;
}

/// IMAP with STARTTLS, delivery over LMTP to a named host, keep on the server.
inline Policy imapStartTlsLmtp() {
  Policy p = pop3ImplicitSmtp();
  p.mail.domains = {"example.net"};
  p.isp.server = "imap.isp.example";
  p.isp.protocol = MailProtocol::Imap;
  p.isp.tls = TlsMode::StartTls;
  p.isp.sslProto = "";
  p.isp.port = 143;
  p.isp.keep = true;
  p.isp.fetchAll = false;
  p.envelope = {"X-Original-To", 0};
  p.users.map = {{"carol", "carol"}, {"dave", "dave"}};
  p.users.postmaster = "admin";
  p.delivery.method = DeliveryMethod::Lmtp;
  p.delivery.target = {"mail.example.net", 24};
  p.fetchmail.pollInterval = std::chrono::seconds(90);
  p.fetchmail.home = "/var/lib/dynmx/fetchmail";
  return p;
}

/// Delivery through an MDA, no certificate check (an old ISP), one mapped user.
inline Policy mdaDelivery() {
  Policy p = pop3ImplicitSmtp();
  p.mail.domains = {"example.com"};
  p.isp.certificateCheck = false;
  p.isp.sslProto = "";
  p.envelope = {"X-Envelope-To", 0};
  p.users.map = {{"erin", "erin"}};
  p.users.postmaster = "erin";
  p.delivery.method = DeliveryMethod::Mda;
  p.delivery.mda = "/usr/lib/dovecot/deliver -d %T";
  return p;
}

/// `*` plus a map, plain-text test server (tls none), delivery to an IPv6 loopback SMTP.
inline Policy wildcardAndMap() {
  Policy p = pop3ImplicitSmtp();
  p.mail.domains = {"example.com"};
  p.isp.server = "192.0.2.10";
  p.isp.tls = TlsMode::None;
  p.isp.port = 1110;
  p.envelope = {"X-Original-To", 0};
  p.users.map = {{"sales", "frank"}};
  p.users.wildcard = true;
  p.users.postmaster = "postmaster";
  p.delivery.target = {"::1", 2525};
  return p;
}

}  // namespace dynmx::fetchmail::testing
