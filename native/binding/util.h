// Argument checking and marshalling shared by every binding.
//
// The TypeScript layer validates first; these checks are the second line of defence: a wrong type is a
// TypeError and a wrong length or value a RangeError, both naming the field, in the message format of
// src/errors.ts ("gprl: invalid <name>: expected <expected>, got <received>"). Typed arrays are used in
// place (zero-copy): the kernel reads and writes their memory directly; a reference to each array is
// held until an async call completes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../kernels/common.h"

namespace gprl {
namespace binding {

/** Short description of a received value for error messages. */
std::string Describe(const Napi::Value& v);

[[noreturn]] void ThrowType(Napi::Env env, const std::string& name, const std::string& expected, const Napi::Value& got);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& name, const std::string& expected, const Napi::Value& got);

template <class T>
struct TypedArrayTraits;
template <>
struct TypedArrayTraits<float> {
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kName = "Float32Array";
};
template <>
struct TypedArrayTraits<uint8_t> {
  static constexpr napi_typedarray_type kType = napi_uint8_array;
  static constexpr const char* kName = "Uint8Array";
};

/** Reads the fields of the single argument object of a kernel call. */
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* function);

  Napi::Env env() const { return env_; }

  /**
   * A typed array field of exactly `length` elements. With `nullable`, null/undefined give nullptr.
   * The array stays referenced until this Args (or the refs taken from it) is destroyed.
   */
  template <class T>
  T* Array(const char* field, std::size_t length, bool nullable = false) {
    const Napi::Value v = Get(field);
    if (nullable && (v.IsNull() || v.IsUndefined())) return nullptr;
    using Tr = TypedArrayTraits<T>;
    // One napi_get_typedarray_info call gives the type, length and data.
    napi_typedarray_type type = napi_int8_array;
    std::size_t got_length = 0;
    void* data = nullptr;
    const bool typed = v.IsTypedArray() &&
                       napi_get_typedarray_info(env_, v, &type, &got_length, &data, nullptr, nullptr) == napi_ok;
    if (!typed || type != Tr::kType || got_length != length) {
      // Messages are built only on failure (the success path allocates nothing).
      const std::string expected =
          std::string("a ") + Tr::kName + " of length " + std::to_string(length) + (nullable ? " or null" : "");
      if (!typed || type != Tr::kType) ThrowType(env_, Name(field), expected, v);
      ThrowRange(env_, Name(field), expected, v);
    }
    // Async calls keep each array alive until the worker completes; sync calls need no reference.
    if (async_) refs_.push_back(Napi::Persistent(v));
    return length == 0 ? nullptr : static_cast<T*>(data);
  }

  /** An integer field in [min, max]. */
  int64_t Int(const char* field, int64_t min, int64_t max);
  /** A finite number field (>= min). */
  double Number(const char* field, double min);
  /** A boolean field. */
  bool Bool(const char* field);
  /** `device`: 0 (C++) or 1 (CUDA). */
  int Device();
  /** groups, groupSize, dims, with a check that every derived length is representable. */
  Shape ReadShape();

  std::vector<Napi::Reference<Napi::Value>> TakeRefs() { return std::move(refs_); }

  /** The call's second argument: run asynchronously. */
  bool async() const { return async_; }

 private:
  std::string Name(const char* field) const { return std::string(function_) + " args." + field; }
  /** A field of the argument object. */
  Napi::Value Get(const char* field);

  Napi::Env env_;
  Napi::Object obj_;
  const char* function_;
  bool async_ = false;
  std::vector<Napi::Reference<Napi::Value>> refs_;
};

/** Advantage-kernel fields shared by groupAdvantages and gprlAdvantages. */
struct AdvantageArgs {
  AdvantageOptions options;
  AdvantageInputs in;
  AdvantageOutputs out;
};
AdvantageArgs ReadAdvantageArgs(Args& a, const Shape& s);

Napi::Object CountsToObject(Napi::Env env, const AdvantageCounts& c);

/**
 * Runs a kernel job synchronously, or (second argument true) in a Napi::AsyncWorker and returns a
 * Promise. A Job is a plain struct of inputs and outputs with
 *   Status Run();                          // the work, no JS access (runs on a worker thread when async)
 *   Napi::Value Result(Napi::Env env);     // JS result, built on the JS thread
 */
template <class Job>
class KernelWorker : public Napi::AsyncWorker {
 public:
  KernelWorker(Napi::Env env, Job job, std::vector<Napi::Reference<Napi::Value>> refs)
      : Napi::AsyncWorker(env, "gprl:kernel"),
        job_(std::move(job)),
        refs_(std::move(refs)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    const Status s = job_.Run();
    if (!s.ok) SetError(s.message);
  }
  void OnOK() override { deferred_.Resolve(job_.Result(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Job job_;
  std::vector<Napi::Reference<Napi::Value>> refs_;  // keeps the typed arrays alive during Execute()
  Napi::Promise::Deferred deferred_;
};

template <class Job>
Napi::Value RunJob(const Napi::CallbackInfo& info, Args& args, Job job) {
  Napi::Env env = info.Env();
  if (!args.async()) {
    const Status s = job.Run();
    if (!s.ok) throw Napi::Error::New(env, s.message);
    return job.Result(env);
  }
  auto* worker = new KernelWorker<Job>(env, std::move(job), args.TakeRefs());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace binding
}  // namespace gprl
