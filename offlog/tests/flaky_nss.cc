// An LD_PRELOAD shim whose user and group lookups by name work the first N
// times and then fail, as a name service (LDAP, sssd) that answers at
// start-up and times out a moment later would. N is $FLAKY_NSS_PASS (0 when
// unset). Every call is reported on stderr ("flaky_nss: getpwnam(root)
// call 1 passed"), so that a test can see the shim was in place.
//
// Used by security_test to show that offlogd looks its --allow-uid and
// --allow-gid names up once: a second lookup that fails must not leave it
// serving without a policy.
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>

#include <atomic>

namespace {

std::atomic<long> calls{0};

bool Pass(const char* function, const char* name) {
  long n = ++calls;
  const char* env = getenv("FLAKY_NSS_PASS");
  long allowed = env ? strtol(env, nullptr, 10) : 0;
  bool pass = n <= allowed;
  dprintf(2, "flaky_nss: %s(%s) call %ld %s\n", function,
          name ? name : "(null)", n, pass ? "passed" : "failed");
  return pass;
}

template <typename Fn>
Fn Real(const char* symbol) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, symbol));
}

}  // namespace

extern "C" {

struct passwd* getpwnam(const char* name) {
  if (!Pass("getpwnam", name)) {
    errno = 0;  // Not found.
    return nullptr;
  }
  static auto real = Real<struct passwd* (*)(const char*)>("getpwnam");
  return real(name);
}

struct group* getgrnam(const char* name) {
  if (!Pass("getgrnam", name)) {
    errno = 0;
    return nullptr;
  }
  static auto real = Real<struct group* (*)(const char*)>("getgrnam");
  return real(name);
}

int getpwnam_r(const char* name, struct passwd* pwd, char* buf, size_t len,
               struct passwd** result) {
  if (!Pass("getpwnam_r", name)) {
    *result = nullptr;
    return 0;  // Not found.
  }
  static auto real = Real<int (*)(const char*, struct passwd*, char*, size_t,
                                  struct passwd**)>("getpwnam_r");
  return real(name, pwd, buf, len, result);
}

int getgrnam_r(const char* name, struct group* grp, char* buf, size_t len,
               struct group** result) {
  if (!Pass("getgrnam_r", name)) {
    *result = nullptr;
    return 0;
  }
  static auto real =
      Real<int (*)(const char*, struct group*, char*, size_t, struct group**)>(
          "getgrnam_r");
  return real(name, grp, buf, len, result);
}

}  // extern "C"
