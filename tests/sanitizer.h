// Whether the tests run in the AddressSanitizer build (scripts/sanitize.sh).
#pragma once

namespace fratmae::test {

// ASan reserves terabytes of address space for its shadow memory, so a process under an
// address-space limit (ulimit -v, RLIMIT_AS) cannot even start there: tests of such limits
// check them in the normal build only.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

inline constexpr const char* kNoAddressLimitUnderAsan =
    "AddressSanitizer's shadow memory does not fit under an address-space limit; checked in the normal build";

}  // namespace fratmae::test
