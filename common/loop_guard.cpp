#include "dynmx/loop_guard.hpp"

#include <exception>

namespace dynmx {

bool runLoopGuarded(boost::asio::io_context& io, const std::function<void(const std::string&)>& onCrash) {
  std::string what;
  try {
    io.run();
    return true;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  if (onCrash) onCrash(what);
  return false;
}

}  // namespace dynmx
