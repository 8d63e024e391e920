#pragma once
// A small expected-style type: failures that are normal (a bad reply, a bad config
// line, an unreachable server) are values, not exceptions.
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace dynmx {

/// Wraps an error value so Result<T, E> can be built unambiguously from it.
template <typename E>
struct Failure {
  E error;
};

/// Build a Failure<E> (deduces E).
template <typename E>
Failure<std::decay_t<E>> fail(E&& e) {
  return Failure<std::decay_t<E>>{std::forward<E>(e)};
}

/// Either a value of type T or an error of type E.
template <typename T, typename E = std::string>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  template <typename E2>
  Result(Failure<E2> f) : v_(std::in_place_index<1>, E(std::move(f.error))) {}  // NOLINT(google-explicit-constructor)

  /// True when a value is held.
  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

/// A value-less success or an error.
struct Ok {};
template <typename E = std::string>
using Status = Result<Ok, E>;

}  // namespace dynmx
