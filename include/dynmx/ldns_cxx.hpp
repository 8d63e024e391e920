#pragma once
// ldns for C++: ldns/common.h #defines bool, false and true unless <stdbool.h> came first,
// which breaks <optional>'s operator<=> and more. Include ldns only through this header.
// clang-format off
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)
#include <ldns/ldns.h>
// clang-format on
