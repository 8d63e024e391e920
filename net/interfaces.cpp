#include "dynmx/net/interfaces.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dynmx::net {

InterfaceInfo readInterface(const std::string& name) {
  InterfaceInfo info;
  info.name = name;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return info;
  char text[INET6_ADDRSTRLEN];
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr || name != a->ifa_name) continue;
    info.exists = true;
    info.up = (a->ifa_flags & IFF_UP) != 0 && (a->ifa_flags & IFF_RUNNING) != 0;
    info.pointToPoint = (a->ifa_flags & IFF_POINTOPOINT) != 0;
    if (a->ifa_addr == nullptr) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      if (::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text) != nullptr) info.ipv4.emplace_back(text);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      if (::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text) != nullptr) info.ipv6.emplace_back(text);
    }
  }
  ::freeifaddrs(list);
  std::ifstream type("/sys/class/net/" + name + "/type");
  int arphrd = 0;
  if (type >> arphrd) info.isPpp = arphrd == ARPHRD_PPP;
  if (name.rfind("ppp", 0) == 0) info.isPpp = true;
  return info;
}

std::optional<std::string> defaultRouteInterface() {
  std::ifstream routes("/proc/net/route");
  std::string line;
  std::getline(routes, line);  // header
  while (std::getline(routes, line)) {
    std::istringstream fields(line);
    std::string iface, dest;
    if (fields >> iface >> dest && dest == "00000000") return iface;
  }
  return std::nullopt;
}

namespace {

class RtNetlinkMonitor final : public NetlinkMonitor {
 public:
  explicit RtNetlinkMonitor(boost::asio::io_context& io) : descriptor_(io) {}
  ~RtNetlinkMonitor() override { stop(); }

  bool start(std::function<void(const NetlinkEvent&)> onEvent, std::string& error) override {
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0) {
      error = std::string("netlink socket: ") + std::strerror(errno);
      return false;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      error = std::string("netlink bind: ") + std::strerror(errno);
      ::close(fd);
      return false;
    }
    descriptor_.assign(fd);
    onEvent_ = std::move(onEvent);
    wait();
    return true;
  }

  void stop() override {
    boost::system::error_code ec;
    descriptor_.close(ec);
  }

 private:
  void wait() {
    descriptor_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                           [this](const boost::system::error_code& ec) {
                             if (ec) return;
                             drain();
                             wait();
                           });
  }

  void drain() {
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
      ssize_t n = ::recv(descriptor_.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return;  // EAGAIN: drained; ENOBUFS: overrun, next events still come
      auto len = static_cast<unsigned int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        NetlinkEvent ev;
        int index = 0;
        if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR) {
          auto* ifa = reinterpret_cast<ifaddrmsg*>(reinterpret_cast<char*>(h) + NLMSG_HDRLEN);
          index = static_cast<int>(ifa->ifa_index);
          ev.kind = h->nlmsg_type == RTM_NEWADDR ? NetlinkEvent::Kind::AddressAdded
                                                 : NetlinkEvent::Kind::AddressRemoved;
        } else if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) {
          ev.kind = NetlinkEvent::Kind::RouteChanged;
          if (onEvent_) onEvent_(ev);
          continue;
        } else if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
          auto* ifi = reinterpret_cast<ifinfomsg*>(reinterpret_cast<char*>(h) + NLMSG_HDRLEN);
          index = ifi->ifi_index;
          ev.kind = NetlinkEvent::Kind::LinkChanged;
        } else {
          continue;
        }
        char name[IF_NAMESIZE] = {};
        if (::if_indextoname(static_cast<unsigned>(index), name) != nullptr) ev.interface = name;
        if (onEvent_) onEvent_(ev);
      }
    }
  }

  boost::asio::posix::stream_descriptor descriptor_;
  std::function<void(const NetlinkEvent&)> onEvent_;
};

}  // namespace

std::unique_ptr<NetlinkMonitor> makeNetlinkMonitor(boost::asio::io_context& io) {
  return std::make_unique<RtNetlinkMonitor>(io);
}

}  // namespace dynmx::net
