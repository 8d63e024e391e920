#pragma once
// The link monitor: resolves the link type (policy, or detected: ppp/point-to-point =
// dial-up) and follows up/down and address changes through rtnetlink.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "dynmx/coordinator.hpp"
#include "dynmx/net/interfaces.hpp"

namespace dynmx::coord {

/// Resolve the configured link type against what the interface is. Pure.
LinkType resolveLinkType(LinkType configured, const net::InterfaceInfo& info);

/// Watches one interface. `onLinkChange` fires when up/down flips; `onAddressChange` when
/// an address on the interface appears or goes away.
class LinkMonitor final : public LinkSource {
 public:
  LinkMonitor(boost::asio::io_context& io, LinkSection config, std::function<TimePoint()> now);
  /// Start watching; false with `error` if rtnetlink is unavailable (state is still read).
  bool start(std::function<void()> onLinkChange, std::function<void()> onAddressChange, std::string& error);
  void reconfigure(LinkSection config);
  mail::LinkState current() const override { return state_; }
  std::string interfaceName() const override { return interface_; }
  /// Re-read the interface now (also called on every netlink event).
  void refresh();

 private:
  LinkSection config_;
  std::function<TimePoint()> now_;
  std::unique_ptr<net::NetlinkMonitor> netlink_;
  std::string interface_;
  mail::LinkState state_;
  std::vector<std::string> addresses_;
  std::function<void()> onLinkChange_;
  std::function<void()> onAddressChange_;
};

}  // namespace dynmx::coord
