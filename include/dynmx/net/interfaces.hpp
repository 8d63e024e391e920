#pragma once
// Local interfaces: addresses (getifaddrs), link flags, and an rtnetlink monitor that
// reports address and link changes the moment the kernel makes them.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dynmx::net {

/// One interface as the kernel sees it now.
struct InterfaceInfo {
  std::string name;
  bool exists = false;
  bool up = false;           ///< IFF_UP and IFF_RUNNING (carrier)
  bool pointToPoint = false; ///< IFF_POINTOPOINT: ppp, dial-on-demand, tunnels
  bool isPpp = false;        ///< ARPHRD_PPP / name "ppp*"
  std::vector<std::string> ipv4;
  std::vector<std::string> ipv6;
};

/// Read an interface now (getifaddrs + SIOCGIFFLAGS/sysfs). Missing → exists=false.
InterfaceInfo readInterface(const std::string& name);

/// The interface that holds the IPv4 default route (from /proc/net/route); nullopt if none.
std::optional<std::string> defaultRouteInterface();

/// What changed.
struct NetlinkEvent {
  enum class Kind { AddressAdded, AddressRemoved, LinkChanged, RouteChanged } kind = Kind::LinkChanged;
  std::string interface;
};

/// Watches rtnetlink (RTMGRP_LINK | IPV4_IFADDR | IPV6_IFADDR | IPV4_ROUTE | IPV6_ROUTE) on
/// the Asio loop. A route event names no interface: the default route may have moved.
class NetlinkMonitor {
 public:
  virtual ~NetlinkMonitor() = default;
  /// Begin delivering events to `onEvent` (on the io_context). Returns false with a reason.
  virtual bool start(std::function<void(const NetlinkEvent&)> onEvent, std::string& error) = 0;
  virtual void stop() = 0;
};

/// The real monitor on a NETLINK_ROUTE socket.
std::unique_ptr<NetlinkMonitor> makeNetlinkMonitor(boost::asio::io_context& io);

}  // namespace dynmx::net
