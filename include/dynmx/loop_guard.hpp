#pragma once
// The daemon's last line of defence: an exception that escapes a handler must not end the
// daemon silently. It is caught here, reported, and the caller persists and exits non-zero.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>

namespace dynmx {

/// Exit status of a daemon whose loop died of an unhandled exception (EX_SOFTWARE).
inline constexpr int kExitLoopCrashed = 70;

/// Run `io` until it stops. An exception escaping a handler stops the loop, is passed to
/// `onCrash` (its what(), or "unknown exception"), and the function returns false. Returns
/// true when the loop ended normally.
bool runLoopGuarded(boost::asio::io_context& io, const std::function<void(const std::string&)>& onCrash);

}  // namespace dynmx
