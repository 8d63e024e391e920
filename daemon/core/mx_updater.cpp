// The RFC 2136 updater for MX steering. The ldns implementation of dnsupdate::Updater
// lives on the rfc2136 branch; until it is merged, a domain with lever = "rfc2136" reports
// that updates cannot be sent (status: refused, exposed), never a silent success.
#include "dynmx/mx_steering.hpp"

namespace dynmx::mx {

Result<std::unique_ptr<dnsupdate::Updater>> makeRfc2136Updater(boost::asio::io_context& /*io*/,
                                                               const MxDomain& domain) {
  return fail("RFC 2136 updates are not built into this dynmx (key " + domain.keyFile + " not used)");
}

}  // namespace dynmx::mx
