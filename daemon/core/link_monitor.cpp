#include "dynmx/link_monitor.hpp"

namespace dynmx::coord {

LinkType resolveLinkType(LinkType configured, const net::InterfaceInfo& info) {
  if (configured != LinkType::Auto) return configured;
  // A ppp or other point-to-point link (PPPoE, dial-on-demand, UMTS) gets a new address
  // on every connect and is down between calls: treat it as dial-up.
  return info.isPpp || info.pointToPoint ? LinkType::Dialup : LinkType::Dedicated;
}

LinkMonitor::LinkMonitor(boost::asio::io_context& io, LinkSection config, std::function<TimePoint()> now)
    : config_(std::move(config)), now_(std::move(now)), netlink_(net::makeNetlinkMonitor(io)) {
  interface_ = config_.interface.empty() ? net::defaultRouteInterface().value_or("") : config_.interface;
  state_.since = now_();
  state_.up = false;  // unknown until read: the safe side
  refresh();
}

void LinkMonitor::reconfigure(LinkSection config) {
  config_ = std::move(config);
  interface_ = config_.interface.empty() ? net::defaultRouteInterface().value_or("") : config_.interface;
  refresh();
}

bool LinkMonitor::start(std::function<void()> onLinkChange, std::function<void()> onAddressChange,
                        std::string& error) {
  onLinkChange_ = std::move(onLinkChange);
  onAddressChange_ = std::move(onAddressChange);
  return netlink_->start(
      [this](const net::NetlinkEvent& e) {
        // Without a configured interface, the link is the default route's: re-resolve it
        // whenever routes (or links) change, so a new uplink is followed.
        if (config_.interface.empty() &&
            (e.kind == net::NetlinkEvent::Kind::RouteChanged || e.kind == net::NetlinkEvent::Kind::LinkChanged)) {
          const std::string now = net::defaultRouteInterface().value_or("");
          if (now != interface_) {
            interface_ = now;
            addresses_.clear();
            refresh();
            if (onAddressChange_) onAddressChange_();
            return;
          }
        }
        if (interface_.empty() || e.interface.empty() || e.interface == interface_) refresh();
      },
      error);
}

void LinkMonitor::refresh() {
  if (interface_.empty()) {
    // No interface known (no default route): we cannot see the link. An unknown link is
    // the safe side: unresolved when the type is to be detected, and not up either way.
    state_.type = config_.type == LinkType::Auto ? LinkType::Auto : config_.type;
    if (state_.up) {
      state_.up = false;
      state_.since = now_();
      if (onLinkChange_) onLinkChange_();
    }
    return;
  }
  net::InterfaceInfo info = net::readInterface(interface_);
  bool up = info.exists && info.up;
  state_.type = resolveLinkType(config_.type, info);
  std::vector<std::string> addresses = info.ipv4;
  addresses.insert(addresses.end(), info.ipv6.begin(), info.ipv6.end());
  if (up != state_.up) {
    state_.up = up;
    state_.since = now_();
    if (onLinkChange_) onLinkChange_();
  }
  if (addresses != addresses_) {
    addresses_ = std::move(addresses);
    if (onAddressChange_) onAddressChange_();
  }
}

}  // namespace dynmx::coord
