#include "util.h"

#include <algorithm>
#include <cmath>

namespace gprl {
namespace binding {

std::string Describe(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    return v.ToString().Utf8Value();
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return "\"" + s + "\"";
  }
  if (v.IsTypedArray()) {
    const auto t = v.As<Napi::TypedArray>();
    static const char* names[] = {"Int8Array",   "Uint8Array",   "Uint8ClampedArray", "Int16Array",
                                  "Uint16Array", "Int32Array",   "Uint32Array",       "Float32Array",
                                  "Float64Array", "BigInt64Array", "BigUint64Array"};
    const int idx = static_cast<int>(t.TypedArrayType());
    const char* name = idx >= 0 && idx < 11 ? names[idx] : "TypedArray";
    return std::string(name) + "(" + std::to_string(t.ElementLength()) + ")";
  }
  if (v.IsArray()) return "Array(" + std::to_string(v.As<Napi::Array>().Length()) + ")";
  if (v.IsFunction()) return "function";
  if (v.IsObject()) return "object";
  return "value";
}

void ThrowType(Napi::Env env, const std::string& name, const std::string& expected, const Napi::Value& got) {
  throw Napi::TypeError::New(env, "gprl: invalid " + name + ": expected " + expected + ", got " + Describe(got));
}

void ThrowRange(Napi::Env env, const std::string& name, const std::string& expected, const Napi::Value& got) {
  throw Napi::RangeError::New(env, "gprl: invalid " + name + ": expected " + expected + ", got " + Describe(got));
}

Napi::Value Args::Get(const char* field) { return obj_.Get(field); }

Args::Args(const Napi::CallbackInfo& info, const char* function)
    : env_(info.Env()), function_(function), async_(info.Length() > 1 && info[1].ToBoolean().Value()) {
  const Napi::Value v = info.Length() > 0 ? info[0] : env_.Undefined();
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction()) {
    ThrowType(env_, std::string(function) + " args", "an arguments object", v);
  }
  obj_ = v.As<Napi::Object>();
}

int64_t Args::Int(const char* field, int64_t min, int64_t max) {
  const Napi::Value v = Get(field);
  const auto expected = [&] { return "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]"; };
  if (!v.IsNumber()) ThrowType(env_, Name(field), expected(), v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowRange(env_, Name(field), expected(), v);
  }
  return static_cast<int64_t>(d);
}

double Args::Number(const char* field, double min) {
  const Napi::Value v = Get(field);
  const auto expected = [&] { return "a finite number >= " + Napi::Number::New(env_, min).ToString().Utf8Value(); };
  if (!v.IsNumber()) ThrowType(env_, Name(field), expected(), v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min) ThrowRange(env_, Name(field), expected(), v);
  return d;
}

bool Args::Bool(const char* field) {
  const Napi::Value v = Get(field);
  if (!v.IsBoolean()) ThrowType(env_, Name(field), "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

int Args::Device() { return static_cast<int>(Int("device", 0, 1)); }

Shape Args::ReadShape() {
  constexpr int64_t kMax = int64_t{1} << 40;
  Shape s;
  s.groups = Int("groups", 1, kMax);
  s.group_size = Int("groupSize", 1, kMax);
  s.dims = Int("dims", 1, kMax);
  // Largest derived length: B*G*max(2k, G) elements, which must fit comfortably in 2^53.
  const double big = static_cast<double>(s.groups) * static_cast<double>(s.group_size) *
                     static_cast<double>(std::max<int64_t>(2 * s.dims, s.group_size));
  if (big > 9.0e15) {
    throw Napi::RangeError::New(env_, std::string("gprl: invalid ") + function_ +
                                          " args: expected groups*groupSize*dims small enough to allocate, got a "
                                          "shape of " + std::to_string(s.groups) + "x" + std::to_string(s.group_size) +
                                          "x" + std::to_string(s.dims));
  }
  return s;
}

AdvantageArgs ReadAdvantageArgs(Args& a, const Shape& s) {
  const auto B = static_cast<std::size_t>(s.groups), G = static_cast<std::size_t>(s.group_size),
             k = static_cast<std::size_t>(s.dims);
  AdvantageArgs r;
  r.in.lambdas = a.Array<float>("lambdas", B * k, true);
  r.in.dim_weights = a.Array<float>("dimWeights", k, true);
  r.in.mask = a.Array<uint8_t>("mask", B * G, true);
  r.options.eps = a.Number("eps", 0.0);
  r.options.std_floor = a.Number("stdFloor", 0.0);
  r.options.unbiased = a.Bool("unbiased");
  r.options.normalize = static_cast<int>(a.Int("normalize", 0, 2));
  // Outputs: null = not requested (the kernel does not write it).
  r.out.advantages = a.Array<float>("advantages", B * G, true);
  r.out.dim_advantages = a.Array<float>("dimAdvantages", B * G * k, true);
  r.out.dim_mean = a.Array<float>("dimMean", B * k, true);
  r.out.dim_std = a.Array<float>("dimStd", B * k, true);
  return r;
}

Napi::Object CountsToObject(Napi::Env env, const AdvantageCounts& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("degenerate", Napi::Number::New(env, static_cast<double>(c.degenerate)));
  o.Set("masked", Napi::Number::New(env, static_cast<double>(c.masked)));
  return o;
}

}  // namespace binding
}  // namespace gprl
