// Self-registering bindings.
//
// Every binding file (native/binding/<stem>.cc) exports its functions by registering an init function
// with a static initializer, so adding a kernel never touches addon.cc, CMakeLists.txt or binding.gyp
// (both builds pick up every .cc file in native/kernels and native/binding):
//
//   #include "registry.h"
//   #include "util.h"
//   namespace {
//   Napi::Value PolicyLoss(const Napi::CallbackInfo& info) { ... }
//   void Init(Napi::Env env, Napi::Object exports) {
//     exports.Set("policyLoss", Napi::Function::New(env, PolicyLoss, "policyLoss"));
//   }
//   }  // namespace
//   GPRL_REGISTER_BINDING(policy_loss, Init);
//
// addon.cc's module init calls every registered function (in name order, so the export order does not
// depend on the link order). The registry is a function-local static, so registration from any
// translation unit's static initializers is safe. Binding files are linked as object files into the
// addon (never through a static library, which could drop an unreferenced registrar).
//
// The kernel a binding calls lives in native/kernels/<stem>.{h,cc,cu}; its CUDA entry point X_cuda is
// always defined (X.cc returns "built without CUDA" when GPRL_WITH_CUDA is off), so bindings need no
// #ifdef. Argument checking and the sync/async (Promise) plumbing are in util.h.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

namespace gprl {
namespace binding {

using InitFn = void (*)(Napi::Env env, Napi::Object exports);

struct Registration {
  std::string name;
  InitFn init;
};

/** All registered bindings (filled by static initializers before the module init runs). */
std::vector<Registration>& registry();

struct Registrar {
  Registrar(const char* name, InitFn init) { registry().push_back({name, init}); }
};

}  // namespace binding
}  // namespace gprl

#define GPRL_REGISTER_BINDING(name, init) \
  static const ::gprl::binding::Registrar gprl_binding_registrar_##name(#name, init)
