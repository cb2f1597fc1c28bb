// unet-ts native backend: oneDNN (2.6) primitives behind a small N-API surface.
//
// Activations live here as oneDNN memories in the layout the primitive that made
// them preferred (e.g. nChw16c); JavaScript holds integer handles and asks for an
// NHWC Float32Array only when it reads the values. Every activation argument is
// either a handle (number) or an NHWC Float32Array; weights always travel as HWIO
// Float32Arrays (TF.js' layout) and are reordered per call.
//
// The boundary trusts nothing: every argument's type, element type, length and range is
// checked before it is used (O(number of arguments), never per element), every C++
// exception becomes a JS error naming the kernel and its arguments' shapes, and all state
// (tensor table, buffer pool, scratch, oneDNN engine and stream) belongs to one Node
// environment, so the addon can be loaded in worker_threads beside the main thread.
#include <napi.h>
#include <sys/mman.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl.hpp"

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

// ---------------------------------------------------------------------------------
// Per-environment state

struct Tensor {
  std::shared_ptr<void> buf;
  memory mem;
  // Max-pool workspace of the forward that produced this tensor (for MaxPoolGrad).
  memory ws;
  bool hasWs = false;
  memory::desc poolSrcDesc;
  std::vector<int64_t> pool;  // kh, kw, sh, sw, pt, pl, pb, pr
  // ws holds ownMaxPool's argmax (window offsets, u8, in the output's layout), not oneDNN's.
  bool ownWs = false;
};

// Buffers for activation-sized memories: large ones are their own mappings. Measured on a
// 572 training step of the paper's net (ours, 2 threads): glibc's defaults 5.1 s and
// 1.78 GB peak RSS; glibc told to keep freed memory (mallopt, no trimming) 4.7 s but
// 2.28 GB (fragmentation); an unbounded pool of freed mappings 4.6 s but 2.58 GB
// (gradient-sized blocks idle while the forward pass peaks); transparent huge pages 6.1 s
// (compaction stalls); plain mappings, returned when freed, 5.4 s and 1.63 GB. Small nets
// pay most for the page faults of fresh mappings, so freed mappings of up to 16 MiB wait in
// a pool of bounded size (UNET_POOL_MB, default 128) for the next request of the same size:
// a 16-filter step on a 412 tile (1 thread) went from 0.66 s to 0.45 s (256 MB: 0.36 s), and
// the 572 step of the paper's net peaked at 1.73 GB (256 MB: 1.82 GB, 1.2x PyTorch's).
// The pool also never holds more than the gap between the mappings in use and their high-water
// mark, so it adds nothing to the peak (the peak is the peak in use, as without a pool): a
// request the pool has no block of that size for takes a pooled block of another size and
// resizes it (mremap keeps the pages already faulted in), and blocks over the gap are unmapped.
// Before, the pool's idle blocks lay on top of the peak (2 threads, bench/case.ts, medians of 5
// steps, AVX-512 Xeon): train412x16 0.21 s and 441-452 MB peak RSS, now 0.19-0.20 s and
// 339-352 MB (PyTorch 431 MB); train572 1755 -> 1626 MB; fwd572 678 -> 545 MB. Unmapping the
// surplus instead of resizing kept the memory but cost 13-25 % of a 16-filter step.
//
// One State per Node environment (the main thread and each worker_thread that loads the
// addon), owned by N-API's instance data and deleted when that environment exits: before
// this, two threads shared one tensor table and one stream, and a worker's conv results
// could be another thread's.
struct State {
  explicit State(size_t cap) : poolCap(cap) {}
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    closing = true;  // buffers freed from here on are unmapped, not pooled
    tensors.clear();
    scratch.clear();
    for (auto& kv : pool)
      for (void* p : kv.second) munmap(p, kv.first);
  }
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  const size_t poolCap;
  bool closing = false;
  std::map<size_t, std::vector<void*>> pool;  // free mappings by length
  size_t pooled = 0;
  size_t mappedInUse = 0;  // bytes of mappings (blocks of 2 MiB and more) handed out and not yet freed
  size_t mappedPeak = 0;   // the high-water mark of mappedInUse
  // Buffers of a call's temporary memories (reorders), released when the call returns.
  std::vector<std::shared_ptr<void>> scratch;
  std::unordered_map<int64_t, Tensor> tensors;
  int64_t next = 1;
  int64_t bytes = 0;
  // Convolution primitive descriptors and primitives by shape (ConvKey): a U-Net step runs the
  // same few dozen shapes every time, and building them cost more than running a small layer.
  std::map<std::vector<int64_t>, dnnl::convolution_forward::primitive_desc> convFwd;
  std::map<std::vector<int64_t>, dnnl::convolution_forward> convFwdPrim;
  std::map<std::vector<int64_t>, dnnl::convolution_backward_data::primitive_desc> convBwdData;
  std::map<std::vector<int64_t>, dnnl::convolution_backward_data> convBwdDataPrim;
  std::map<std::vector<int64_t>, dnnl::convolution_backward_weights::primitive_desc> convBwdWeights;
  std::map<std::vector<int64_t>, dnnl::convolution_backward_weights> convBwdWeightsPrim;
  std::map<std::string, dnnl::reorder> reorders;  // by source and destination descriptor bytes
  int64_t cacheHits = 0;
  int64_t cacheMisses = 0;
  int64_t reorderRuns = 0;   // layout conversions run (inputs into a primitive's layout, toNHWC, ...)
  int64_t reorderBytes = 0;  // and the bytes they wrote
};

// Thrown for an allocation the system refuses; a std::bad_alloc that says how much and what for.
struct AllocFailure : std::bad_alloc {
  explicit AllocFailure(std::string m) : msg(std::move(m)) {}
  const char* what() const noexcept override { return msg.c_str(); }
  std::string msg;
};

std::string dimsStr(const memory::dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); i++) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// NCHW dims (oneDNN's logical order) shown as NHWC, the order JavaScript uses.
std::string nhwcStr(const memory::dims& d) {
  if (d.size() != 4) return dimsStr(d);
  return dimsStr({d[0], d[2], d[3], d[1]});
}

std::shared_ptr<void> allocate(State& st, size_t bytes) {
  constexpr size_t kLarge = size_t{1} << 21;
  if (bytes < kLarge) {
    void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
    if (!p) throw AllocFailure("cannot allocate " + std::to_string(bytes) + " bytes");
    return std::shared_ptr<void>(p, std::free);
  }
  if (bytes > SIZE_MAX - 4096) throw AllocFailure("cannot allocate " + std::to_string(bytes) + " bytes");
  const size_t len = (bytes + 4095) / 4096 * 4096;
  void* p = nullptr;
  const size_t inUse = st.mappedInUse + len;
  const size_t room = st.mappedPeak > inUse ? st.mappedPeak - inUse : 0;
  auto take = [&st](std::map<size_t, std::vector<void*>>::iterator at) {
    void* q = at->second.back();
    at->second.pop_back();
    st.pooled -= at->first;
    if (at->second.empty()) st.pool.erase(at);
    return q;
  };
  auto it = st.pool.find(len);
  if (it != st.pool.end()) {
    p = take(it);
  } else if (st.pooled > room && !st.pool.empty()) {
    // No block of this size, and a fresh mapping would lift in use + pooled above the mark: a
    // pooled block of another size is resized instead (the smallest larger one, else the
    // largest), keeping the pages it has already faulted in; what is left over is unmapped.
    auto donor = st.pool.lower_bound(len);
    if (donor == st.pool.end()) donor = std::prev(donor);
    const size_t had = donor->first;
    void* q = take(donor);
    p = mremap(q, had, len, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) munmap(q, had);
  }
  // Pooled blocks beyond the room under the mark are unmapped (largest first: the fewest calls).
  while (st.pooled > room && !st.pool.empty()) {
    const auto last = std::prev(st.pool.end());
    const size_t lastLen = last->first;
    munmap(take(last), lastLen);
  }
  if (p == nullptr || p == MAP_FAILED) {
    p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw AllocFailure("cannot allocate " + std::to_string(bytes) + " bytes (mmap: " + std::strerror(errno) + ")");
  }
  State* s = &st;
  st.mappedInUse += len;
  st.mappedPeak = std::max(st.mappedPeak, st.mappedInUse);
  return std::shared_ptr<void>(p, [s, len](void* q) {
    s->mappedInUse -= len;
    // Blocks over 16 MiB (the big early-level activations of large nets) are returned at once:
    // pooling them bought little time and most of the extra peak memory.
    if (!s->closing && len <= (size_t{16} << 20) && s->pooled + len <= s->poolCap) {
      s->pool[len].push_back(q);
      s->pooled += len;
    } else {
      munmap(q, len);
    }
  });
}

// The bytes of a memory desc, refusing dims whose element count overflows (oneDNN's own
// size computation would wrap around and hand back a buffer far too small).
size_t checkedSize(const memory::desc& d) {
  const dnnl_memory_desc_t& md = d.data;
  uint64_t n = sizeof(float);
  for (int i = 0; i < md.ndims; i++) {
    if (md.padded_dims[i] < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(md.padded_dims[i]), &n) || n > (uint64_t{1} << 62)) {
      throw AllocFailure("cannot allocate a tensor of NHWC dims " + nhwcStr(d.dims()) + ": its size overflows");
    }
  }
  return d.get_size();
}

memory scratchMemory(State& st, const memory::desc& d) {
  st.scratch.push_back(allocate(st, checkedSize(d)));
  return memory(d, st.engine, st.scratch.back().get());
}

void allocTensor(State& st, Tensor& t, const memory::desc& d) {
  const size_t bytes = checkedSize(d);
  try {
    t.buf = allocate(st, bytes);
  } catch (const AllocFailure& e) {
    throw AllocFailure(std::string(e.what()) + " for a tensor of NHWC dims " + nhwcStr(d.dims()));
  }
  t.mem = memory(d, st.engine, t.buf.get());
}

// ---------------------------------------------------------------------------------
// Arguments

// What a kernel is called and what its arguments are, for error messages. A name starting
// with '@' is a tensor-handle-or-Float32Array argument (described with its tensor's dims).
struct KernelInfo {
  const char* name;
  std::array<const char*, 10> args;
};

// One call: its arguments, its environment's state and the kernel it is.
struct Ctx {
  const Napi::CallbackInfo& info;
  Napi::Env env;
  State& st;
  const KernelInfo& k;
  Napi::Value operator[](size_t i) const { return info[i]; }
  std::string prefix() const { return std::string("onednn ") + k.name + ": "; }
  [[noreturn]] void fail(const std::string& msg) const { throw Napi::Error::New(env, prefix() + msg); }
  [[noreturn]] void typeFail(const std::string& msg) const { throw Napi::TypeError::New(env, prefix() + msg); }
};

std::string numStr(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

const char* typedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "typed array";
  }
}

// What a value is, for "got ..." in messages: "a Uint8Array of 108 values", "string", "undefined".
std::string kindOf(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    Napi::TypedArray a = v.As<Napi::TypedArray>();
    const char* name = typedArrayName(a.TypedArrayType());
    return std::string(name[0] == 'I' ? "an " : "a ") + name + " of " + std::to_string(a.ElementLength()) + " values";
  }
  if (v.IsArray()) return "an array of " + std::to_string(v.As<Napi::Array>().Length()) + " values";
  if (v.IsNumber()) return "number " + numStr(v.As<Napi::Number>().DoubleValue());
  if (v.IsBoolean()) return "boolean";
  if (v.IsString()) return "string";
  if (v.IsFunction()) return "function";
  return "object";
}

// Short element description for "[1,5,'x']"-style listings.
std::string elementStr(const Napi::Value& v) {
  if (v.IsNumber()) return numStr(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value().substr(0, 16) + "'";
  return kindOf(v);
}

std::string arrayStr(const Napi::Array& a) {
  std::string s = "[";
  const uint32_t n = a.Length();
  for (uint32_t i = 0; i < n && i < 16; i++) s += (i ? "," : "") + elementStr(a.Get(i));
  if (n > 16) s += ",...";
  return s + "]";
}

const char* plural(size_t n) { return n == 1 ? " value " : " values "; }

// A JS integer within [lo, 2^31 - 1], as oneDNN dims/strides/pads are. It is named `what`, or
// `what[index]` when index >= 0 (names are built only on failure: this runs on every call).
int64_t intAt(const Ctx& c, const Napi::Value& v, const char* what, int64_t index, int64_t lo) {
  auto name = [&] { return std::string(what) + (index >= 0 ? "[" + std::to_string(index) + "]" : ""); };
  if (!v.IsNumber()) c.typeFail(name() + " must be an integer, got " + (v.IsString() ? std::string("string") : kindOf(v)));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d)) c.typeFail(name() + " must be an integer, got " + numStr(d));
  if (d < static_cast<double>(lo)) c.fail(name() + " must be at least " + std::to_string(lo) + ", got " + numStr(d));
  if (d > 2147483647.0) c.fail(name() + " must be at most 2147483647, got " + numStr(d));
  return static_cast<int64_t>(d);
}

// Argument `at`, an array of exactly `len` integers >= lo (dims, strides, pads, dilations).
std::vector<int64_t> intArray(const Ctx& c, size_t at, size_t len, const char* what, int64_t lo) {
  Napi::Value v = c[at];
  auto want = [&] { return std::string(what) + " must be an array of " + std::to_string(len) + " integers, got "; };
  if (!v.IsArray()) c.typeFail(want() + (v.IsNumber() ? std::string("number") : v.IsString() ? std::string("string") : kindOf(v)));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != len) c.typeFail(want() + std::to_string(a.Length()) + plural(a.Length()) + arrayStr(a));
  std::vector<int64_t> out(len);
  for (uint32_t i = 0; i < len; i++) out[i] = intAt(c, a.Get(i), what, i, lo);
  return out;
}

// Elements of NHWC (or HWIO) dims, refusing counts whose bytes would not fit in 62 bits.
size_t volume(const Ctx& c, const std::vector<int64_t>& d, const char* what) {
  uint64_t n = 1;
  for (int64_t x : d) {
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(x), &n) || n > (uint64_t{1} << 60)) c.fail(std::string(what) + " dims " + dimsStr(d) + " hold too many values");
  }
  return static_cast<size_t>(n);
}

double numberArg(const Ctx& c, size_t at, const char* what) {
  Napi::Value v = c[at];
  if (!v.IsNumber()) c.typeFail(std::string(what) + " must be a number, got " + (v.IsString() ? std::string("string") : kindOf(v)));
  return v.As<Napi::Number>().DoubleValue();
}

int64_t handleValue(const Ctx& c, const Napi::Value& v, const char* what, int64_t index = -1) {
  auto name = [&] { return std::string(what) + (index >= 0 ? "[" + std::to_string(index) + "]" : ""); };
  if (!v.IsNumber()) c.typeFail(name() + " must be a tensor handle (an integer), got " + (v.IsString() ? std::string("string") : kindOf(v)));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9007199254740992.0) c.typeFail(name() + " must be a tensor handle (an integer), got " + numStr(d));
  return static_cast<int64_t>(d);
}

Tensor& lookup(const Ctx& c, int64_t id) {
  auto it = c.st.tensors.find(id);
  if (it == c.st.tensors.end()) c.fail("unknown tensor handle " + std::to_string(id) + " (freed, or made by another thread's addon)");
  return it->second;
}

Tensor& handleArg(const Ctx& c, size_t at, const char* what) { return lookup(c, handleValue(c, c[at], what)); }

// Argument `at`, a Float32Array (any other element type would be read or written as floats, past its end).
// Kernels check their typed arrays after their dims arrays: reading an array element may run
// JavaScript (a getter) that could shrink a resizable buffer after its length was checked.
Napi::Float32Array f32Array(const Ctx& c, size_t at, const char* what) {
  Napi::Value v = c[at];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) c.typeFail(std::string(what) + " must be a Float32Array, got " + kindOf(v));
  return v.As<Napi::Float32Array>();
}

// An activation argument: handle or NHWC Float32Array with logical NHWC dims `nhwc`.
memory activation(const Ctx& c, size_t at, const std::vector<int64_t>& nhwc, const char* what) {
  memory::dims nchw{nhwc[0], nhwc[3], nhwc[1], nhwc[2]};
  Napi::Value v = c[at];
  if (v.IsNumber()) {
    Tensor& t = lookup(c, handleValue(c, v, what));
    if (t.mem.get_desc().dims() != nchw) c.fail(std::string(what) + " handle has NHWC dims " + nhwcStr(t.mem.get_desc().dims()) + ", expected " + dimsStr(nhwc));
    return t.mem;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) c.typeFail(std::string(what) + " must be a tensor handle or a Float32Array, got " + kindOf(v));
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  const size_t n = volume(c, nhwc, what);
  if (a.ElementLength() != n) c.fail(std::string(what) + " has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(n) + " for NHWC " + dimsStr(nhwc));
  return memory({nchw, dt::f32, tag::nhwc}, c.st.engine, a.Data());
}

// HWIO weights [kh, kw, ci, co] as a oneDNN OIHW memory: over the JS buffer, or a handle's
// memory in whatever layout it has (a filter kept natively between training steps, in the
// layout its gradient came in: src/train/optimizers.ts).
memory weights(const Ctx& c, size_t at, const std::vector<int64_t>& hwio) {
  if (c[at].IsNumber()) {
    const memory::dims oihw{hwio[3], hwio[2], hwio[0], hwio[1]};
    Tensor& t = lookup(c, handleValue(c, c[at], "filter"));
    if (t.mem.get_desc().dims() != oihw) c.fail("filter handle has OIHW dims " + dimsStr(t.mem.get_desc().dims()) + ", expected " + dimsStr(oihw) + " for HWIO " + dimsStr(hwio));
    return t.mem;
  }
  Napi::Float32Array a = f32Array(c, at, "filter");
  const size_t n = volume(c, hwio, "filter");
  if (a.ElementLength() != n) c.fail("filter has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(n) + " for HWIO " + dimsStr(hwio));
  return memory({{hwio[3], hwio[2], hwio[0], hwio[1]}, dt::f32, tag::hwio}, c.st.engine, a.Data());
}

// Most shapes a net uses stay; an unbounded number (a caller looping over sizes) must not.
constexpr size_t kMaxCachedShapes = 512;

// cache[key], made by make() on a miss (the cache is emptied first when full).
template <typename K, typename V, typename F>
const V& cached(State& st, std::map<K, V>& cache, const K& key, F make) {
  auto it = cache.find(key);
  if (it != cache.end()) {
    st.cacheHits++;
    return it->second;
  }
  st.cacheMisses++;
  if (cache.size() >= kMaxCachedShapes) cache.clear();
  return cache.emplace(key, make()).first->second;
}

// Runs a reorder from m's layout into out's, with the primitive cached by the two descriptors'
// bytes (equal bytes, equal descriptors; a descriptor written differently only misses).
void reorderInto(const Ctx& c, const memory& m, const memory& out) {
  const memory::desc from = m.get_desc(), to = out.get_desc();
  std::string key(reinterpret_cast<const char*>(&from.data), sizeof from.data);
  key.append(reinterpret_cast<const char*>(&to.data), sizeof to.data);
  const auto& prim = cached(c.st, c.st.reorders, key, [&] { return dnnl::reorder(dnnl::reorder::primitive_desc(c.st.engine, from, c.st.engine, to)); });
  prim.execute(c.st.stream, const_cast<memory&>(m), const_cast<memory&>(out));
  c.st.reorderRuns++;
  c.st.reorderBytes += static_cast<int64_t>(to.get_size());
}

memory ensure(const Ctx& c, const memory& m, const memory::desc& want) {
  if (m.get_desc() == want) return m;
  memory out = scratchMemory(c.st, want);
  reorderInto(c, m, out);
  return out;
}

int64_t store(State& st, Tensor t) {
  st.bytes += static_cast<int64_t>(t.mem.get_desc().get_size());
  if (t.hasWs) st.bytes += static_cast<int64_t>(t.ws.get_desc().get_size());
  int64_t id = st.next++;
  st.tensors.emplace(id, std::move(t));
  return id;
}

Napi::Value handleOf(const Ctx& c, Tensor t) { return Napi::Number::New(c.env, static_cast<double>(store(c.st, std::move(t)))); }

// ---------------------------------------------------------------------------------
// Kernels

struct ConvGeom {
  std::vector<int64_t> x, w, y;  // NHWC, HWIO, NHWC
  memory::dims strides, dil, padL, padR;
};

// args at `at`: xdims, wdims, ydims, strides[2], pads[4] (top, left, bottom, right), dilations[2].
ConvGeom geom(const Ctx& c, size_t at) {
  ConvGeom g;
  g.x = intArray(c, at, 4, "xDims", 0);
  g.w = intArray(c, at + 1, 4, "wDims", 1);
  g.y = intArray(c, at + 2, 4, "yDims", 0);
  auto s = intArray(c, at + 3, 2, "strides", 1);
  auto p = intArray(c, at + 4, 4, "pads", 0);
  auto d = intArray(c, at + 5, 2, "dilations", 1);
  if (g.x[3] != g.w[2]) c.fail("x has " + std::to_string(g.x[3]) + " channels (xDims " + dimsStr(g.x) + "), filter expects " + std::to_string(g.w[2]) + " (wDims " + dimsStr(g.w) + ")");
  if (g.y[3] != g.w[3]) c.fail("y has " + std::to_string(g.y[3]) + " channels (yDims " + dimsStr(g.y) + "), filter has " + std::to_string(g.w[3]) + " output channels (wDims " + dimsStr(g.w) + ")");
  if (g.x[0] != g.y[0]) c.fail("xDims " + dimsStr(g.x) + " and yDims " + dimsStr(g.y) + " differ in batch");
  g.strides = {s[0], s[1]};
  g.padL = {p[0], p[1]};
  g.padR = {p[2], p[3]};
  g.dil = {d[0] - 1, d[1] - 1};
  return g;
}

memory::desc anyAct(const std::vector<int64_t>& nhwc) { return {{nhwc[0], nhwc[3], nhwc[1], nhwc[2]}, dt::f32, tag::any}; }
memory::desc anyWei(const std::vector<int64_t>& hwio) { return {{hwio[3], hwio[2], hwio[0], hwio[1]}, dt::f32, tag::any}; }

// The cache key of a convolution: its geometry, bias and ReLU flags and the propagation kind.
std::vector<int64_t> convKey(const ConvGeom& g, bool bias, bool relu, dnnl::prop_kind prop) {
  std::vector<int64_t> k;
  k.reserve(24);
  for (const auto* v : {&g.x, &g.w, &g.y}) k.insert(k.end(), v->begin(), v->end());
  for (const auto* v : {&g.strides, &g.dil, &g.padL, &g.padR}) k.insert(k.end(), v->begin(), v->end());
  k.push_back(bias);
  k.push_back(relu);
  k.push_back(static_cast<int64_t>(prop));
  return k;
}

dnnl::convolution_forward::primitive_desc makeConvFwdPd(const Ctx& c, const ConvGeom& g, bool bias, bool relu, dnnl::prop_kind prop);

const dnnl::convolution_forward::primitive_desc& convFwdPd(const Ctx& c, const ConvGeom& g, bool bias, bool relu, dnnl::prop_kind prop) {
  return cached(c.st, c.st.convFwd, convKey(g, bias, relu, prop), [&] { return makeConvFwdPd(c, g, bias, relu, prop); });
}

dnnl::convolution_forward::primitive_desc makeConvFwdPd(const Ctx& c, const ConvGeom& g, bool bias, bool relu, dnnl::prop_kind prop) {
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  if (bias) {
    memory::desc bmd({g.w[3]}, dt::f32, tag::x);
    dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, anyAct(g.x), anyWei(g.w), bmd, anyAct(g.y), g.strides, g.dil, g.padL, g.padR);
    return {d, attr, c.st.engine};
  }
  dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, anyAct(g.x), anyWei(g.w), anyAct(g.y), g.strides, g.dil, g.padL, g.padR);
  return {d, attr, c.st.engine};
}

// conv2d(x, w, bias|null, relu, xdims, wdims, ydims, strides, pads, dilations) -> handle
Napi::Value Conv2d(Ctx& c) {
  ConvGeom g = geom(c, 4);
  const bool hasBias = !c[2].IsNull() && !c[2].IsUndefined();
  const bool relu = c[3].ToBoolean();
  memory b;
  if (hasBias) {
    if (!c[2].IsTypedArray() || c[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) c.typeFail("bias must be a Float32Array or null, got " + kindOf(c[2]));
    Napi::Float32Array ba = c[2].As<Napi::Float32Array>();
    if (static_cast<int64_t>(ba.ElementLength()) != g.w[3]) c.fail("bias has " + std::to_string(ba.ElementLength()) + " values, filter has " + std::to_string(g.w[3]) + " output channels");
    b = memory({{g.w[3]}, dt::f32, tag::x}, c.st.engine, ba.Data());
  }
  memory x = activation(c, 0, g.x, "x");
  memory w = weights(c, 1, g.w);
  const auto key = convKey(g, hasBias, relu, dnnl::prop_kind::forward_inference);
  const auto& pd = convFwdPd(c, g, hasBias, relu, dnnl::prop_kind::forward_inference);
  const auto& prim = cached(c.st, c.st.convFwdPrim, key, [&] { return dnnl::convolution_forward(pd); });
  memory src = ensure(c, x, pd.src_desc());
  memory wei = ensure(c, w, pd.weights_desc());
  Tensor out;
  allocTensor(c.st, out, pd.dst_desc());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, out.mem}};
  if (hasBias) args[DNNL_ARG_BIAS] = b;
  prim.execute(c.st.stream, args);
  c.st.stream.wait();
  return handleOf(c, std::move(out));
}

// oneDNN's memory format as a short name: dims ordered by stride, blocked ones in capitals,
// then the inner blocks ("nChw8c"; a filter's OIHW dims read as nchw: "NChw8c8n" for OIhw8i8o).
std::string layoutStr(const memory::desc& d) {
  const dnnl_memory_desc_t& md = d.data;
  if (md.format_kind != dnnl_blocked) return "non-blocked";
  const auto& b = md.format_desc.blocking;
  const char names[] = "nchw";
  std::vector<int> order{0, 1, 2, 3};
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return b.strides[i] > b.strides[j]; });
  std::string s;
  for (int i : order) {
    bool blocked = false;
    for (int k = 0; k < b.inner_nblks; k++) blocked = blocked || b.inner_idxs[k] == i;
    s += blocked ? static_cast<char>(names[i] - 32) : names[i];
  }
  for (int k = 0; k < b.inner_nblks; k++) s += std::to_string(b.inner_blks[k]) + names[b.inner_idxs[k]];
  return s;
}

// The format tag of a memory desc, for the few layouts our primitives produce.
bool tagOf(const memory::desc& md, tag& out) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.ndims != 4) return false;
  for (tag t : {tag::nChw16c, tag::nChw8c, tag::nhwc, tag::nchw}) {
    memory::desc probe(md.dims(), dt::f32, t);
    if (probe == md) {
      out = t;
      return true;
    }
  }
  return false;
}

// The layout a backward convolution should take an activation in: the layout `m` already has when
// it is one of ours (tagOf), so that the primitive reads it as it is, else `any` (oneDNN picks).
// Why: with `any` for everything, oneDNN 2.6's AVX-512 backward kernels ask for nChw16c while its
// brgconv forward writes nhwc, and reordering x and dy (tens of MB per layer) was a large part of a
// training step's backward there; its jit backward reads nhwc directly, as PyTorch passes it.
tag backwardLayout(const memory& m) {
  tag t;
  return tagOf(m.get_desc(), t) && t != tag::nchw ? t : tag::any;
}

memory::desc actIn(const std::vector<int64_t>& nhwc, tag t) { return {{nhwc[0], nhwc[3], nhwc[1], nhwc[2]}, dt::f32, t}; }

// A backward primitive desc with activations in the given layouts, or with `any` where oneDNN has
// no optimised kernel for them (none at all, or only its reference loops).
template <typename Pd, typename Make>
Pd backwardPd(tag src, tag dst, Make make) {
  if (src != tag::any || dst != tag::any) {
    try {
      Pd pd = make(src, dst);
      if (std::strncmp(pd.impl_info_str(), "ref", 3) != 0) return pd;
    } catch (const dnnl::error&) {
      // No implementation takes these layouts: let oneDNN choose, and reorder.
    }
  }
  return make(tag::any, tag::any);
}

// conv2dBackpropInput(dy, w, xdims, wdims, ydims, strides, pads, dilations) -> handle (dx)
Napi::Value Conv2dBackpropInput(Ctx& c) {
  ConvGeom g = geom(c, 2);
  memory dyArg = activation(c, 0, g.y, "dy");
  memory w = weights(c, 1, g.w);
  // dx in dy's layout, as the forward wrote x and y in one layout.
  const tag layout = backwardLayout(dyArg);
  auto key = convKey(g, false, false, dnnl::prop_kind::backward_data);
  key.push_back(static_cast<int64_t>(layout));
  const auto& pd = cached(c.st, c.st.convBwdData, key, [&] {
    const auto& fwd = convFwdPd(c, g, false, false, dnnl::prop_kind::forward_training);
    return backwardPd<dnnl::convolution_backward_data::primitive_desc>(layout, layout, [&](tag src, tag dst) {
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, actIn(g.x, src), anyWei(g.w), actIn(g.y, dst), g.strides, g.dil, g.padL, g.padR);
      return dnnl::convolution_backward_data::primitive_desc(d, c.st.engine, fwd);
    });
  });
  const auto& prim = cached(c.st, c.st.convBwdDataPrim, key, [&] { return dnnl::convolution_backward_data(pd); });
  memory dy = ensure(c, dyArg, pd.diff_dst_desc());
  memory wei = ensure(c, w, pd.weights_desc());
  Tensor out;
  allocTensor(c.st, out, pd.diff_src_desc());
  prim.execute(c.st.stream, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, out.mem}});
  c.st.stream.wait();
  return handleOf(c, std::move(out));
}

// The filter gradient, and with `withBias` the bias gradient computed in the same pass over dy.
Napi::Value convBackpropFilter(Ctx& c, bool withBias) {
  ConvGeom g = geom(c, 2);
  const bool asHandle = c[8].ToBoolean();
  memory x = activation(c, 0, g.x, "x");
  memory dyArg = activation(c, 1, g.y, "dy");
  const size_t n = volume(c, g.w, "filter");
  const tag xLayout = backwardLayout(x);
  const tag dyLayout = backwardLayout(dyArg);
  const memory::desc biasMd({g.w[3]}, dt::f32, tag::x);
  auto key = convKey(g, withBias, false, dnnl::prop_kind::backward_weights);
  key.push_back(static_cast<int64_t>(xLayout));
  key.push_back(static_cast<int64_t>(dyLayout));
  const auto& pd = cached(c.st, c.st.convBwdWeights, key, [&] {
    const auto& fwd = convFwdPd(c, g, withBias, false, dnnl::prop_kind::forward_training);
    return backwardPd<dnnl::convolution_backward_weights::primitive_desc>(xLayout, dyLayout, [&](tag src, tag dst) {
      if (withBias) {
        dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, actIn(g.x, src), anyWei(g.w), biasMd, actIn(g.y, dst), g.strides, g.dil, g.padL, g.padR);
        return dnnl::convolution_backward_weights::primitive_desc(d, c.st.engine, fwd);
      }
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, actIn(g.x, src), anyWei(g.w), actIn(g.y, dst), g.strides, g.dil, g.padL, g.padR);
      return dnnl::convolution_backward_weights::primitive_desc(d, c.st.engine, fwd);
    });
  });
  const auto& prim = cached(c.st, c.st.convBwdWeightsPrim, key, [&] { return dnnl::convolution_backward_weights(pd); });
  memory src = ensure(c, x, pd.src_desc());
  memory dy = ensure(c, dyArg, pd.diff_dst_desc());
  // As a handle, dw stays in the primitive's layout, so that an optimizer updating natively held
  // filters needs no reorder for it; on the AVX2 machine measured (oneDNN 2.6's jit:avx2) it is
  // also the layout the forward takes its weights in, so the next forward needs none either.
  Tensor dwTensor;
  if (asHandle) allocTensor(c.st, dwTensor, pd.diff_weights_desc());
  memory dw = asHandle ? dwTensor.mem : scratchMemory(c.st, pd.diff_weights_desc());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
  Napi::Float32Array db;
  memory dbPlain;
  memory dbMem;
  if (withBias) {
    db = Napi::Float32Array::New(c.env, static_cast<size_t>(g.w[3]));
    dbPlain = memory(biasMd, c.st.engine, db.Data());
    dbMem = pd.diff_bias_desc() == biasMd ? dbPlain : scratchMemory(c.st, pd.diff_bias_desc());
    args[DNNL_ARG_DIFF_BIAS] = dbMem;
  }
  prim.execute(c.st.stream, args);
  Napi::Value out;
  if (!asHandle) {
    Napi::Float32Array plainOut = Napi::Float32Array::New(c.env, n);
    memory plain({{g.w[3], g.w[2], g.w[0], g.w[1]}, dt::f32, tag::hwio}, c.st.engine, plainOut.Data());
    reorderInto(c, dw, plain);
    out = plainOut;
  }
  if (withBias && dbMem.get_data_handle() != dbPlain.get_data_handle()) reorderInto(c, dbMem, dbPlain);
  c.st.stream.wait();
  if (asHandle) out = handleOf(c, std::move(dwTensor));
  if (!withBias) return out;
  Napi::Array result = Napi::Array::New(c.env, 2);
  result.Set(0u, out);
  result.Set(1u, db);
  return result;
}

// conv2dBackpropFilter(x, dy, xdims, wdims, ydims, strides, pads, dilations, asHandle) -> Float32Array HWIO, or
// with asHandle a handle (OIHW dims) in the primitive's layout
Napi::Value Conv2dBackpropFilter(Ctx& c) { return convBackpropFilter(c, false); }

// conv2dBackpropFilterBias(x, dy, xdims, wdims, ydims, strides, pads, dilations, asHandle) -> [dw, Float32Array C], dw as
// conv2dBackpropFilter gives it:
// the filter gradient and the bias gradient (dy summed over N, H, W) of one convolution, in one
// primitive (PyTorch's convolution_backward does the same), instead of a second pass over dy.
Napi::Value Conv2dBackpropFilterBias(Ctx& c) { return convBackpropFilter(c, true); }


// The plain and blocked layouts our primitives produce, seen as one loop nest:
// element (n, c, p) with p = h * W + w sits at ((n * cb + c / B) * hw + p) * B + c % B.
// nChw16c: B = 16; nChw8c: B = 8; nhwc: B = C, cb = 1; nchw: B = 1, cb = C.
// Channels past C in the last block are padding and hold zeros.
struct Blocks {
  int64_t n, c, hw, B, cb;
};

bool blocksOf(const memory::desc& md, Blocks& out) {
  tag tg;
  if (!tagOf(md, tg)) return false;
  auto d = md.dims();
  out.n = d[0];
  out.c = d[1];
  out.hw = d[2] * d[3];
  if (tg == tag::nChw16c || tg == tag::nChw8c) {
    out.B = tg == tag::nChw16c ? 16 : 8;
    out.cb = (out.c + out.B - 1) / out.B;
  } else if (tg == tag::nhwc) {
    out.B = out.c;
    out.cb = 1;
  } else {
    out.B = 1;
    out.cb = out.c;
  }
  return true;
}

struct PoolGeom {
  std::vector<int64_t> x, y;
  memory::dims kernel, strides, padL, padR;
  std::vector<int64_t> key;
};

// args at `at`: xdims, ydims, kernel[2], strides[2], pads[4]
PoolGeom poolGeom(const Ctx& c, size_t at) {
  PoolGeom g;
  g.x = intArray(c, at, 4, "xDims", 0);
  g.y = intArray(c, at + 1, 4, "yDims", 0);
  auto k = intArray(c, at + 2, 2, "kernel", 1);
  auto s = intArray(c, at + 3, 2, "strides", 1);
  auto p = intArray(c, at + 4, 4, "pads", 0);
  if (g.x[0] != g.y[0] || g.x[3] != g.y[3]) c.fail("yDims " + dimsStr(g.y) + " must keep the batch and channels of xDims " + dimsStr(g.x));
  g.kernel = {k[0], k[1]};
  g.strides = {s[0], s[1]};
  g.padL = {p[0], p[1]};
  g.padR = {p[2], p[3]};
  g.key = {k[0], k[1], s[0], s[1], p[0], p[1], p[2], p[3]};
  return g;
}

dnnl::pooling_forward::primitive_desc poolFwdPd(const Ctx& c, const PoolGeom& g, const memory::desc& src) {
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src, anyAct(g.y), g.strides, g.kernel, g.padL, g.padR);
  return {d, c.st.engine};
}

// Our max pool for the U-Net's case: windows that tile the input without overlap or padding
// (2x2, stride 2, valid) on a blocked layout. oneDNN 2.6's jit:avx2 pooling took 5-8 ms for a
// 408x408x16 map where a ReLU over it takes 0.3-0.5 ms, forward and backward alike; this is one
// pass over the input. As TF.js' CPU kernel: the first largest value of a window in row-major
// order wins (strictly greater replaces, so NaN never does and an all-NaN window gives -Infinity
// and no gradient). tg is the input's layout when the case applies: blocked (AVX2 machines'
// convolutions) or plain (nhwc is what oneDNN's AVX-512 convolutions produce, and oneDNN's
// pooling there gave the lowest float, not -Infinity, for an all -Infinity window).
bool ownPoolCase(const PoolGeom& g, const memory::desc& src, tag& tg) {
  if (!tagOf(src, tg)) return false;
  if (g.kernel != g.strides || g.padL[0] != 0 || g.padL[1] != 0 || g.padR[0] != 0 || g.padR[1] != 0) return false;
  if (g.kernel[0] * g.kernel[1] > 255) return false;
  return g.y[1] == (g.x[1] - g.kernel[0]) / g.strides[0] + 1 && g.y[2] == (g.x[2] - g.kernel[1]) / g.strides[1] + 1 && g.y[1] >= 1 && g.y[2] >= 1;
}

constexpr uint8_t kNoArgmax = 255;

// The lanes one pass of the row loops below handles: a whole block, 16 or 8 channels of an nhwc
// pixel, else one (nchw, or an nhwc channel count that is no multiple of 8).
int64_t poolLanes(int64_t B) { return B % 16 == 0 ? 16 : B % 8 == 0 ? 8 : 1; }

// One output row of ownMaxPoolForward, L lanes (channels) at a time out of the B of each pixel:
// fixed-length lane loops the compiler turns into vector compares and blends.
template <int L>
void ownMaxPoolRow(const float* xp, float* y, uint8_t* a, int64_t oy, int64_t W, int64_t ow, int64_t kh, int64_t kw, int64_t B) {
  for (int64_t ox = 0; ox < ow; ox++) {
    for (int64_t l0 = 0; l0 < B; l0 += L) {
      float best[L];
      int32_t arg[L];
      for (int l = 0; l < L; l++) {
        best[l] = -std::numeric_limits<float>::infinity();
        arg[l] = kNoArgmax;
      }
      for (int64_t ky = 0; ky < kh; ky++) {
        for (int64_t kx = 0; kx < kw; kx++) {
          const float* v = xp + ((oy * kh + ky) * W + ox * kw + kx) * B + l0;
          const int32_t at = static_cast<int32_t>(ky * kw + kx);
          for (int l = 0; l < L; l++) {
            const bool gt = v[l] > best[l];
            best[l] = gt ? v[l] : best[l];
            arg[l] = gt ? at : arg[l];
          }
        }
      }
      for (int l = 0; l < L; l++) {
        y[ox * B + l0 + l] = best[l];
        a[ox * B + l0 + l] = static_cast<uint8_t>(arg[l]);
      }
    }
  }
}

// dst (f32) and ws (u8 argmax) in the output's blocked layout, from src in the same layout.
void ownMaxPoolForward(const memory& src, const memory& dst, const memory& ws, const PoolGeom& g) {
  Blocks k;
  blocksOf(src.get_desc(), k);
  const int64_t H = g.x[1], W = g.x[2], oh = g.y[1], ow = g.y[2], B = k.B, kh = g.kernel[0], kw = g.kernel[1];
  const float* x = static_cast<const float*>(src.get_data_handle());
  float* y = static_cast<float*>(dst.get_data_handle());
  uint8_t* a = static_cast<uint8_t*>(ws.get_data_handle());
  const int64_t rows = k.n * k.cb * oh, L = poolLanes(B);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xp = x + (r / oh) * H * W * B;
    if (L == 16) ownMaxPoolRow<16>(xp, y + r * ow * B, a + r * ow * B, r % oh, W, ow, kh, kw, B);
    else if (L == 8) ownMaxPoolRow<8>(xp, y + r * ow * B, a + r * ow * B, r % oh, W, ow, kh, kw, B);
    else ownMaxPoolRow<1>(xp, y + r * ow * B, a + r * ow * B, r % oh, W, ow, kh, kw, B);
  }
}

// dx: dy at each window's argmax, 0 elsewhere (windows do not overlap: no sums). One input row.
template <int L>
void ownMaxPoolGradRow(const float* __restrict d, const uint8_t* __restrict a, float* __restrict row, int64_t ky, int64_t W, int64_t ow, int64_t kw, int64_t B) {
  // dy's bits where the window offset is the argmax, +0 elsewhere: a bitwise select the
  // compiler vectorises (a float ternary here it did not: 5 ms for a 408x408x16 gradient).
  for (int64_t ox = 0; ox < ow; ox++) {
    for (int64_t l0 = 0; l0 < B; l0 += L) {
      uint32_t dv[L], av[L];
      std::memcpy(dv, d + ox * B + l0, sizeof dv);
      for (int l = 0; l < L; l++) av[l] = a[ox * B + l0 + l];
      for (int64_t kx = 0; kx < kw; kx++) {
        const uint32_t at = static_cast<uint32_t>(ky * kw + kx);
        uint32_t o[L];
        for (int l = 0; l < L; l++) o[l] = dv[l] & (0u - static_cast<uint32_t>(av[l] == at));
        std::memcpy(row + (ox * kw + kx) * B + l0, o, sizeof o);
      }
    }
  }
  std::fill(row + ow * kw * B, row + W * B, 0.f);
}

void ownMaxPoolBackward(const memory& dy, const memory& ws, const memory& dx, const PoolGeom& g) {
  Blocks k;
  blocksOf(dx.get_desc(), k);
  const int64_t H = g.x[1], W = g.x[2], oh = g.y[1], ow = g.y[2], B = k.B, kh = g.kernel[0], kw = g.kernel[1];
  const float* d = static_cast<const float*>(dy.get_data_handle());
  const uint8_t* a = static_cast<const uint8_t*>(ws.get_data_handle());
  float* out = static_cast<float*>(dx.get_data_handle());
  const int64_t rows = k.n * k.cb * H, L = poolLanes(B);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t plane = r / H, iy = r % H, oy = iy / kh;
    float* row = out + r * W * B;
    if (oy >= oh) {
      std::fill(row, row + W * B, 0.f);
      continue;
    }
    const int64_t o = (plane * oh + oy) * ow * B;
    if (L == 16) ownMaxPoolGradRow<16>(d + o, a + o, row, iy % kh, W, ow, kw, B);
    else if (L == 8) ownMaxPoolGradRow<8>(d + o, a + o, row, iy % kh, W, ow, kw, B);
    else ownMaxPoolGradRow<1>(d + o, a + o, row, iy % kh, W, ow, kw, B);
  }
}

// maxPool(x, xdims, ydims, kernel, strides, pads) -> handle (keeps the workspace for MaxPoolGrad)
Napi::Value MaxPool(Ctx& c) {
  PoolGeom g = poolGeom(c, 1);
  memory src = activation(c, 0, g.x, "x");
  tag tg;
  if (ownPoolCase(g, src.get_desc(), tg)) {
    const memory::dims yd{g.y[0], g.y[3], g.y[1], g.y[2]};
    Tensor out;
    allocTensor(c.st, out, {yd, dt::f32, tg});
    out.ws = memory({yd, dt::u8, tg}, c.st.engine);
    out.hasWs = true;
    out.ownWs = true;
    out.poolSrcDesc = src.get_desc();
    out.pool = g.key;
    ownMaxPoolForward(src, out.mem, out.ws, g);
    return handleOf(c, std::move(out));
  }
  auto pd = poolFwdPd(c, g, src.get_desc());
  Tensor out;
  allocTensor(c.st, out, pd.dst_desc());
  out.ws = memory(pd.workspace_desc(), c.st.engine);
  out.hasWs = true;
  out.poolSrcDesc = src.get_desc();
  out.pool = g.key;
  dnnl::pooling_forward(pd).execute(c.st.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem}, {DNNL_ARG_WORKSPACE, out.ws}});
  c.st.stream.wait();
  return handleOf(c, std::move(out));
}

// maxPoolGrad(dy, x, y|null, xdims, ydims, kernel, strides, pads) -> handle (dx)
Napi::Value MaxPoolGrad(Ctx& c) {
  PoolGeom g = poolGeom(c, 3);
  memory dyArg = activation(c, 0, g.y, "dy");
  memory x = activation(c, 1, g.x, "x");
  memory ws;
  memory::desc srcDesc;
  bool have = false, own = false;
  if (!c[2].IsNull() && !c[2].IsUndefined()) {
    if (!c[2].IsNumber()) c.typeFail("y must be a tensor handle or null, got " + kindOf(c[2]));
    Tensor& y = handleArg(c, 2, "y");
    if (y.hasWs && y.pool == g.key && y.poolSrcDesc.dims() == memory::dims{g.x[0], g.x[3], g.x[1], g.x[2]}) {
      ws = y.ws;
      srcDesc = y.poolSrcDesc;
      have = true;
      own = y.ownWs;
    }
  }
  tag tg;
  if (!have && ownPoolCase(g, x.get_desc(), tg)) {  // recompute our argmax from the input
    const memory::dims yd{g.y[0], g.y[3], g.y[1], g.y[2]};
    srcDesc = x.get_desc();
    ws = memory({yd, dt::u8, tg}, c.st.engine);
    memory dst({yd, dt::f32, tg}, c.st.engine);
    ownMaxPoolForward(x, dst, ws, g);
    have = own = true;
  }
  if (own) {
    tagOf(srcDesc, tg);
    memory dy = ensure(c, dyArg, {{g.y[0], g.y[3], g.y[1], g.y[2]}, dt::f32, tg});
    Tensor out;
    allocTensor(c.st, out, srcDesc);
    ownMaxPoolBackward(dy, ws, out.mem, g);
    return handleOf(c, std::move(out));
  }
  if (!have) {  // recompute the forward to get the argmax workspace
    srcDesc = x.get_desc();
    auto fpd = poolFwdPd(c, g, srcDesc);
    ws = memory(fpd.workspace_desc(), c.st.engine);
    memory dst(fpd.dst_desc(), c.st.engine);
    dnnl::pooling_forward(fpd).execute(c.st.stream, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, ws}});
  }
  auto fpd = poolFwdPd(c, g, srcDesc);
  dnnl::pooling_backward::desc d(dnnl::algorithm::pooling_max, srcDesc, fpd.dst_desc(), g.strides, g.kernel, g.padL, g.padR);
  dnnl::pooling_backward::primitive_desc pd(d, c.st.engine, fpd);
  memory dy = ensure(c, dyArg, pd.diff_dst_desc());
  Tensor out;
  allocTensor(c.st, out, pd.diff_src_desc());
  dnnl::pooling_backward(pd).execute(c.st.stream, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, out.mem}, {DNNL_ARG_WORKSPACE, ws}});
  c.st.stream.wait();
  return handleOf(c, std::move(out));
}

// relu(x, xdims) -> handle, same layout as x
Napi::Value Relu(Ctx& c) {
  auto xd = intArray(c, 1, 4, "xDims", 0);
  memory src = activation(c, 0, xd, "x");
  dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu, src.get_desc(), 0.f, 0.f);
  dnnl::eltwise_forward::primitive_desc pd(d, c.st.engine);
  Tensor out;
  allocTensor(c.st, out, pd.dst_desc());
  dnnl::eltwise_forward(pd).execute(c.st.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem}});
  c.st.stream.wait();
  return handleOf(c, std::move(out));
}

// Element-wise ops on handles of equal dims, computed in a's layout (padding lanes are zero and stay zero).
// binary(op, a, b) with op 0 = add, 1 = mul, 2 = relu grad (a * (b > 0)), 3 = sub; b a handle or NHWC Float32Array
// -> handle | null when the dims differ
Napi::Value Binary(Ctx& c) {
  const double opv = numberArg(c, 0, "op");
  if (!(opv == 0 || opv == 1 || opv == 2 || opv == 3)) c.fail("op must be 0 (add), 1 (mul), 2 (relu grad) or 3 (sub), got " + numStr(opv));
  const int op = static_cast<int>(opv);
  Tensor& a = handleArg(c, 1, "a");
  auto d = a.mem.get_desc().dims();
  memory bsrc;
  if (c[2].IsNumber()) {
    bsrc = handleArg(c, 2, "b").mem;
    if (bsrc.get_desc().dims() != d) return c.env.Null();
  } else {  // an NHWC Float32Array of a's dims (e.g. a dropout mask made in JavaScript)
    if (!c[2].IsTypedArray() || c[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) c.typeFail("b must be a tensor handle or a Float32Array, got " + kindOf(c[2]));
    if (d.size() != 4) return c.env.Null();
    bsrc = activation(c, 2, {d[0], d[2], d[3], d[1]}, "b");
  }
  memory bm = ensure(c, bsrc, a.mem.get_desc());  // reorder b into a's layout when they differ
  c.st.stream.wait();
  Tensor out;
  allocTensor(c.st, out, a.mem.get_desc());
  const float* pa = static_cast<const float*>(a.mem.get_data_handle());
  const float* pb = static_cast<const float*>(bm.get_data_handle());
  float* po = static_cast<float*>(out.mem.get_data_handle());
  int64_t n = static_cast<int64_t>(a.mem.get_desc().get_size() / sizeof(float));
  switch (op) {
    case 0:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) po[i] = pa[i] + pb[i];
      break;
    case 1:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) po[i] = pa[i] * pb[i];
      break;
    case 2:
      // Both loads first and selects, no branch: written as one nested conditional the loop was
      // not vectorised and mispredicted on every other element (8.3 ms for 410x410x16, add 0.7 ms).
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) {
        const float g = pa[i], y = pb[i];
        const float kept = y > 0.f ? g : 0.f;
        po[i] = y != y ? y : kept;
      }
      break;
    default:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) po[i] = pa[i] - pb[i];
      break;
  }
  return handleOf(c, std::move(out));
}

// step(x) -> handle: 1 where x > 0 else 0, same layout (TF.js Step with alpha 0)
Napi::Value Step(Ctx& c) {
  Tensor& a = handleArg(c, 0, "x");
  Tensor out;
  allocTensor(c.st, out, a.mem.get_desc());
  const float* pa = static_cast<const float*>(a.mem.get_data_handle());
  float* po = static_cast<float*>(out.mem.get_data_handle());
  int64_t n = static_cast<int64_t>(a.mem.get_desc().get_size() / sizeof(float));
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float x = pa[i];
    const float s = x > 0.f ? 1.f : 0.f;
    po[i] = x != x ? x : s;
  }
  return handleOf(c, std::move(out));
}

// Optimizer updates, in place on the JS arrays of the weights and slots. Each operation is
// rounded as TF.js' CPU kernels round it (JavaScript double arithmetic, stored as float32:
// (float)((double)a op (double)b)), with IEEE denormals, so the results are bit for bit those
// of src/train/optimizers.ts and of tf.train.momentum / tf.train.adam.
// Every array must be a Float32Array of n values: a Uint8Array of n would be written 4n bytes.
float* f32Data(const Ctx& c, size_t at, size_t n, const char* what, const char* nameOfN) {
  Napi::Float32Array a = f32Array(c, at, what);
  if (a.ElementLength() != n) c.fail(std::string(what) + " has " + std::to_string(a.ElementLength()) + " values, " + nameOfN + " has " + std::to_string(n));
  return a.Data();
}

inline float r(double x) { return static_cast<float>(x); }

template <typename F>
void parallelFor(int64_t n, F body) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) body(i);
}

// The buffers of one in-place update: the value and its slots (arguments 0 .. gradAt - 1) all
// Float32Arrays of one length, or all handles of one layout (filters held natively between
// training steps, src/train/optimizers.ts: the loop then runs over the layout's buffer, blocks'
// padding included, which stays zero); the gradient (argument gradAt) a Float32Array of the same
// length, or with handles a handle, reordered into the value's layout when it has another, or a
// Float32Array in HWIO order, reordered into it.
struct UpdateBuffers {
  std::vector<float*> slots;
  const float* gradient = nullptr;
  size_t n = 0;
};

UpdateBuffers updateBuffers(const Ctx& c, size_t gradAt, const std::array<const char*, 4>& names) {
  UpdateBuffers u;
  if (!c[0].IsNumber()) {
    u.n = f32Array(c, 0, names[0]).ElementLength();
    for (size_t i = 0; i < gradAt; i++) u.slots.push_back(f32Data(c, i, u.n, names[i], names[0]));
    u.gradient = f32Data(c, gradAt, u.n, names[gradAt], names[0]);
    return u;
  }
  const memory::desc want = lookup(c, handleValue(c, c[0], names[0])).mem.get_desc();
  for (size_t i = 0; i < gradAt; i++) {
    if (!c[i].IsNumber()) c.typeFail(std::string(names[i]) + " must be a tensor handle, as " + names[0] + " is, got " + kindOf(c[i]));
    const memory& m = lookup(c, handleValue(c, c[i], names[i])).mem;
    if (m.get_desc() != want) c.fail(std::string(names[i]) + " (layout " + layoutStr(m.get_desc()) + ", dims " + dimsStr(m.get_desc().dims()) + ") is not in " + names[0] + "'s layout (" + layoutStr(want) + ", dims " + dimsStr(want.dims()) + ")");
    u.slots.push_back(static_cast<float*>(m.get_data_handle()));
  }
  u.n = want.get_size() / sizeof(float);
  memory g;
  if (c[gradAt].IsNumber()) {
    g = lookup(c, handleValue(c, c[gradAt], names[gradAt])).mem;
    if (g.get_desc().dims() != want.dims()) c.fail(std::string(names[gradAt]) + " has dims " + dimsStr(g.get_desc().dims()) + ", " + names[0] + " has " + dimsStr(want.dims()));
  } else {
    const auto d = want.dims();
    Napi::Float32Array a = f32Array(c, gradAt, names[gradAt]);
    const size_t plain = d.size() == 4 ? static_cast<size_t>(d[0] * d[1] * d[2] * d[3]) : 0;
    if (plain == 0 || a.ElementLength() != plain) c.fail(std::string(names[gradAt]) + " has " + std::to_string(a.ElementLength()) + " values, " + names[0] + " has OIHW dims " + dimsStr(d));
    g = memory({d, dt::f32, tag::hwio}, c.st.engine, a.Data());
  }
  memory inLayout = ensure(c, g, want);
  c.st.stream.wait();
  u.gradient = static_cast<const float*>(inLayout.get_data_handle());
  return u;
}

// momentumUpdate(value, accumulation, gradient, m, c): acc = m * acc + g; value = c * acc + value (c = -lr)
Napi::Value MomentumUpdate(Ctx& c) {
  const UpdateBuffers u = updateBuffers(c, 2, {"value", "accumulation", "gradient", ""});
  const size_t n = u.n;
  float* v = u.slots[0];
  float* a = u.slots[1];
  const float* g = u.gradient;
  const double m = numberArg(c, 3, "momentum");
  const double s = numberArg(c, 4, "scale (-learning rate)");
  parallelFor(static_cast<int64_t>(n), [=](int64_t k) {
    float acc = r(static_cast<double>(r(m * a[k])) + g[k]);
    a[k] = acc;
    v[k] = r(static_cast<double>(r(s * acc)) + v[k]);
  });
  return c.env.Undefined();
}

// adamUpdate(value, m, v, gradient, [b1, b2, 1-b1, 1-b2, 1-b1^t, 1-b2^t, eps, -lr]) as TF.js' AdamOptimizer
Napi::Value AdamUpdate(Ctx& c) {
  // The coefficients first: reading an array element may run JavaScript (a getter), which
  // could shrink a resizable buffer under a typed array whose length was already checked.
  if (!c[4].IsArray() || c[4].As<Napi::Array>().Length() != 8) {
    c.typeFail("coefficients must be an array of 8 numbers, got " + (c[4].IsArray() ? std::to_string(c[4].As<Napi::Array>().Length()) + " values" : kindOf(c[4])));
  }
  Napi::Array p = c[4].As<Napi::Array>();
  double k8[8];
  for (uint32_t i = 0; i < 8; i++) {
    Napi::Value e = p.Get(i);
    if (!e.IsNumber()) c.typeFail("coefficients[" + std::to_string(i) + "] must be a number, got " + kindOf(e));
    k8[i] = e.As<Napi::Number>().DoubleValue();
  }
  const UpdateBuffers u = updateBuffers(c, 3, {"value", "first moment", "second moment", "gradient"});
  const size_t n = u.n;
  float* w = u.slots[0];
  float* m = u.slots[1];
  float* v = u.slots[2];
  const float* g = u.gradient;
  const double b1 = k8[0], b2 = k8[1], omb1 = k8[2], omb2 = k8[3], omab1 = k8[4], omab2 = k8[5], eps = k8[6], nlr = k8[7];
  parallelFor(static_cast<int64_t>(n), [=](int64_t k) {
    const double gk = g[k];
    const float mk = r(static_cast<double>(r(m[k] * b1)) + r(gk * omb1));
    const float vk = r(static_cast<double>(r(v[k] * b2)) + r(static_cast<double>(r(gk * gk)) * omb2));
    m[k] = mk;
    v[k] = vk;
    const float mHat = r(mk / omab1);
    const float vHat = r(vk / omab2);
    const float den = r(static_cast<double>(r(std::sqrt(static_cast<double>(vHat)))) + eps);
    w[k] = r(static_cast<double>(r(static_cast<double>(r(mHat / static_cast<double>(den))) * nlr)) + w[k]);
  });
  return c.env.Undefined();
}

// slice(handle, begin nhwc, size nhwc) -> handle | null (null: layout or offsets not supported)
Napi::Value Slice(Ctx& c) {
  Tensor& t = handleArg(c, 0, "x");
  auto b = intArray(c, 1, 4, "begin", 0);
  auto z = intArray(c, 2, 4, "size", 1);
  const auto td = t.mem.get_desc().dims();
  if (td.size() != 4) c.fail("x is not a 4-D tensor (dims " + dimsStr(td) + ")");
  const std::vector<int64_t> nhwc{td[0], td[2], td[3], td[1]};
  for (int i = 0; i < 4; i++) {
    if (b[i] + z[i] > nhwc[i]) c.fail("begin " + dimsStr(b) + " + size " + dimsStr(z) + " exceeds the tensor's NHWC dims " + dimsStr(nhwc));
  }
  tag tg;
  if (!tagOf(t.mem.get_desc(), tg)) return c.env.Null();
  int64_t block = tg == tag::nChw16c ? 16 : tg == tag::nChw8c ? 8 : 1;
  if (b[3] % block != 0 || (z[3] % block != 0 && b[3] + z[3] != td[1])) return c.env.Null();
  memory::dims dims{z[0], z[3], z[1], z[2]};
  Tensor out;
  allocTensor(c.st, out, {dims, dt::f32, tg});
  // Copied row by row in the shared layout (Blocks): a reorder from a strided submemory is
  // oneDNN's reference path, 155 ms for the 64 + 64 channel split of a 392x392x128 gradient.
  // Blocked: an output row of w * B floats is one piece of an input row (channel blocks start on
  // a block, so the last one's padding lanes are the input's zeros).
  if (tg == tag::nhwc) {  // channels interleaved per pixel: left to oneDNN (our kernels make blocked tensors)
    memory::desc sub = t.mem.get_desc().submemory_desc(dims, {b[0], b[3], b[1], b[2]});
    reorderInto(c, memory(sub, c.st.engine, t.mem.get_data_handle()), out.mem);
    c.st.stream.wait();
    return handleOf(c, std::move(out));
  }
  Blocks bi, bo;
  blocksOf(t.mem.get_desc(), bi);
  blocksOf(out.mem.get_desc(), bo);
  const int64_t H = td[2], W = td[3], h = z[1], w = z[2], B = bo.B, cb = bo.cb, first = b[3] / B;
  const float* src = static_cast<const float*>(t.mem.get_data_handle());
  float* dst = static_cast<float*>(out.mem.get_data_handle());
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < z[0] * cb * h; r++) {
    const int64_t y = r % h, plane = r / h, n = plane / cb, blk = plane % cb;
    std::copy_n(src + ((((b[0] + n) * bi.cb + first + blk) * H + b[1] + y) * W + b[2]) * B, w * B, dst + r * w * B);
  }
  return handleOf(c, std::move(out));
}

// pad(handle, before nhwc, after nhwc) -> handle | null: zero padding (TF.js PadV2 with constant 0)
Napi::Value Pad(Ctx& c) {
  Tensor& t = handleArg(c, 0, "x");
  auto b = intArray(c, 1, 4, "before", 0);
  auto a = intArray(c, 2, 4, "after", 0);
  tag tg;
  if (!tagOf(t.mem.get_desc(), tg)) return c.env.Null();
  if (b[3] != 0 || a[3] != 0) return c.env.Null();
  auto d = t.mem.get_desc().dims();
  memory::dims dims{d[0] + b[0] + a[0], d[1], d[2] + b[1] + a[1], d[3] + b[2] + a[2]};
  Tensor out;
  allocTensor(c.st, out, {dims, dt::f32, tg});
  // Row by row in the shared layout (Blocks): each output row of W' * B floats is zeros, or
  // zeros around one input row. A memset of the whole output and a reorder into its centre (a
  // strided submemory, oneDNN's slow path) took 10 ms for the 232x408x16 -> 408x408x16 gradient
  // of a skip connection's crop.
  Blocks k;  // the input's and the output's: the same layout and channels
  blocksOf(out.mem.get_desc(), k);
  const int64_t h = d[2], w = d[3], ho = dims[2], wo = dims[3], B = k.B, cb = k.cb;
  const int64_t top = b[1], left = b[2], nBefore = b[0];
  const float* src = static_cast<const float*>(t.mem.get_data_handle());
  float* dst = static_cast<float*>(out.mem.get_data_handle());
  const int64_t rows = dims[0] * cb * ho;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t y = r % ho, plane = r / ho, n = plane / cb - nBefore, blk = plane % cb, iy = y - top;
    float* row = dst + r * wo * B;
    if (n < 0 || n >= d[0] || iy < 0 || iy >= h) {
      std::fill(row, row + wo * B, 0.f);
      continue;
    }
    std::fill(row, row + left * B, 0.f);
    std::copy_n(src + (((n * cb + blk) * h + iy) * w) * B, w * B, row + left * B);
    std::fill(row + (left + w) * B, row + wo * B, 0.f);
  }
  return handleOf(c, std::move(out));
}

// concat(handles[], axis = channels) -> handle (oneDNN picks the output layout)
Napi::Value Concat(Ctx& c) {
  if (!c[0].IsArray() || c[0].As<Napi::Array>().Length() == 0) {
    c.typeFail("handles must be an array of tensor handles, got " + (c[0].IsArray() ? std::string("an empty array") : c[0].IsNumber() ? std::string("number") : kindOf(c[0])));
  }
  Napi::Array hs = c[0].As<Napi::Array>();
  std::vector<memory::desc> mds;
  std::vector<memory> mems;
  for (uint32_t i = 0; i < hs.Length(); i++) {
    Tensor& t = lookup(c, handleValue(c, hs.Get(i), "handles", i));
    mds.push_back(t.mem.get_desc());
    mems.push_back(t.mem);
  }
  if (mds.size() > 1) {
    // The U-Net's crop-and-concat: inputs in one blocked layout whose channels fill whole blocks
    // (all but the last) are the output's channel blocks in order, so the concatenation is one
    // copy of each input's planes. oneDNN's concat took 2.9 ms for two 232x232x16 maps (its
    // "simple" kernel), a third of the same bytes' copy time.
    tag tg;
    Blocks k0;
    bool fast = tagOf(mds[0], tg) && (tg == tag::nChw8c || tg == tag::nChw16c) && blocksOf(mds[0], k0);
    int64_t channels = 0;
    std::vector<Blocks> ks(mds.size());
    for (size_t i = 0; fast && i < mds.size(); i++) {
      tag ti;
      fast = tagOf(mds[i], ti) && ti == tg && blocksOf(mds[i], ks[i]) && ks[i].n == k0.n && mds[i].dims()[2] == mds[0].dims()[2] && mds[i].dims()[3] == mds[0].dims()[3] &&
             (i + 1 == mds.size() || ks[i].c % ks[i].B == 0);
      channels += ks[i].c;
    }
    if (fast) {
      const auto d0 = mds[0].dims();
      Tensor out;
      allocTensor(c.st, out, {{d0[0], channels, d0[2], d0[3]}, dt::f32, tg});
      Blocks ko;
      blocksOf(out.mem.get_desc(), ko);
      float* dst = static_cast<float*>(out.mem.get_data_handle());
      const int64_t plane = k0.hw * k0.B;
      int64_t offset = 0;  // in channel blocks
      for (size_t i = 0; i < mems.size(); i++) {
        const float* src = static_cast<const float*>(mems[i].get_data_handle());
        const int64_t cb = ks[i].cb, planes = ks[i].n * cb, at = offset, cbo = ko.cb;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < planes; r++) std::copy_n(src + r * plane, plane, dst + ((r / cb) * cbo + at + r % cb) * plane);
        offset += cb;
      }
      return handleOf(c, std::move(out));
    }
  }
  dnnl::concat::primitive_desc pd(1, mds, c.st.engine);
  Tensor out;
  allocTensor(c.st, out, pd.dst_desc());
  std::unordered_map<int, memory> args{{DNNL_ARG_DST, out.mem}};
  for (size_t i = 0; i < mems.size(); i++) args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = mems[i];
  dnnl::concat(pd).execute(c.st.stream, args);
  c.st.stream.wait();
  return handleOf(c, std::move(out));
}

// biasAdd(handle, Float32Array[C]) -> handle, same layout. A plain loop: oneDNN 2.6's
// binary primitive took ~0.5 s for a 392x392x64 blocked tensor (a reference kernel).
Napi::Value BiasAdd(Ctx& c) {
  Tensor& t = handleArg(c, 0, "x");
  Napi::Float32Array bias = f32Array(c, 1, "bias");
  Blocks k;
  if (!blocksOf(t.mem.get_desc(), k)) c.fail("x has an unsupported layout (NHWC dims " + nhwcStr(t.mem.get_desc().dims()) + ")");
  if (static_cast<int64_t>(bias.ElementLength()) != k.c) c.fail("bias has " + std::to_string(bias.ElementLength()) + " values, x has " + std::to_string(k.c) + " channels (NHWC dims " + nhwcStr(t.mem.get_desc().dims()) + ")");
  std::vector<float> b(static_cast<size_t>(k.cb * k.B), 0.f);
  std::copy(bias.Data(), bias.Data() + k.c, b.begin());
  Tensor out;
  allocTensor(c.st, out, t.mem.get_desc());
  const float* src = static_cast<const float*>(t.mem.get_data_handle());
  float* dst = static_cast<float*>(out.mem.get_data_handle());
  const int64_t rows = k.n * k.cb * k.hw, B = k.B, hw = k.hw, cb = k.cb;
  const float* bp = b.data();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* bb = bp + ((r / hw) % cb) * B;
    const float* s = src + r * B;
    float* o = dst + r * B;
#pragma omp simd
    for (int64_t l = 0; l < B; l++) o[l] = s[l] + bb[l];
  }
  return handleOf(c, std::move(out));
}

// scale(handle, s) -> handle, same layout: x * s in float32 (the loss seed's product; TF.js' CPU
// kernel read the native gradient back into JavaScript for it). The same bits as JavaScript's
// Float32Array of x * s: a product of two floats is exact in double, so one rounding either way.
Napi::Value Scale(Ctx& c) {
  Tensor& t = handleArg(c, 0, "x");
  const float sv = static_cast<float>(numberArg(c, 1, "scale"));
  Tensor out;
  allocTensor(c.st, out, t.mem.get_desc());
  const float* src = static_cast<const float*>(t.mem.get_data_handle());
  float* dst = static_cast<float*>(out.mem.get_data_handle());
  const int64_t n = static_cast<int64_t>(t.mem.get_desc().get_size() / sizeof(float));
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) dst[i] = src[i] * sv;
  return handleOf(c, std::move(out));
}

// softmaxCrossEntropy(logits, labels Int32Array, weights Float32Array) -> [loss sum, grad handle]:
// the weighted softmax cross-entropy of src/loss/cross-entropy.ts on native logits (any of our
// layouts), the arithmetic of the CPU kernel (src/backend/cpu-kernels.ts) per pixel in double:
// m = max, z = sum exp(x - m), loss w (m + log z - x_label), gradient w / P (exp(x - m) / z -
// onehot), a label outside [0, K) adding neither. The gradient keeps the logits' layout; the sum
// over pixels is taken per image row and the rows added in order, so it does not depend on the
// threads. The CPU kernel read the logits into JavaScript and wrote its gradient back.
Napi::Value SoftmaxCrossEntropy(Ctx& c) {
  Tensor& t = handleArg(c, 0, "logits");
  Napi::Value lv = c[1];
  if (!lv.IsTypedArray() || lv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) c.typeFail("labels must be an Int32Array, got " + kindOf(lv));
  Napi::Int32Array labels = lv.As<Napi::Int32Array>();
  Napi::Float32Array weights = f32Array(c, 2, "weights");
  Blocks k;
  if (!blocksOf(t.mem.get_desc(), k)) c.fail("logits have an unsupported layout (NHWC dims " + nhwcStr(t.mem.get_desc().dims()) + ")");
  const int64_t pixels = k.n * k.hw, K = k.c, B = k.B, cb = k.cb, hw = k.hw;
  if (static_cast<int64_t>(labels.ElementLength()) != pixels || static_cast<int64_t>(weights.ElementLength()) != pixels) {
    c.fail(std::to_string(pixels) + " pixels of logits (NHWC dims " + nhwcStr(t.mem.get_desc().dims()) + "), " + std::to_string(labels.ElementLength()) + " labels, " + std::to_string(weights.ElementLength()) + " weights");
  }
  if (K > 64) c.fail("logits have " + std::to_string(K) + " classes, at most 64 are supported");
  Tensor out;
  allocTensor(c.st, out, t.mem.get_desc());
  const float* x = static_cast<const float*>(t.mem.get_data_handle());
  float* g = static_cast<float*>(out.mem.get_data_handle());
  std::fill(g, g + out.mem.get_desc().get_size() / sizeof(float), 0.f);  // padding lanes and skipped pixels
  const int32_t* l = labels.Data();
  const float* w = weights.Data();
  const int64_t H = t.mem.get_desc().dims()[2], W = t.mem.get_desc().dims()[3], rows = k.n * H;
  std::vector<double> rowSums(static_cast<size_t>(rows), 0.0);
  const double P = static_cast<double>(pixels);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = r / H;
    double sum = 0.0;
    double e[64];
    for (int64_t p = (r % H) * W; p < (r % H + 1) * W; p++) {
      auto at = [&](int64_t ch) { return ((n * cb + ch / B) * hw + p) * B + ch % B; };
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t ch = 0; ch < K; ch++) {
        const double v = x[at(ch)];
        m = (v != v || m != m) ? std::numeric_limits<double>::quiet_NaN() : (v > m ? v : m);  // Math.max
      }
      double z = 0.0;
      for (int64_t ch = 0; ch < K; ch++) z += e[ch] = std::exp(static_cast<double>(x[at(ch)]) - m);
      const int32_t label = l[n * hw + p];
      if (label < 0 || label >= K) continue;
      const double wp = w[n * hw + p];
      sum += wp * (m + std::log(z) - static_cast<double>(x[at(label)]));
      const double scale = wp / P;
      for (int64_t ch = 0; ch < K; ch++) g[at(ch)] = static_cast<float>(scale * (e[ch] / z - (ch == label ? 1.0 : 0.0)));
    }
    rowSums[static_cast<size_t>(r)] = sum;
  }
  double total = 0.0;
  for (double v : rowSums) total += v;
  Napi::Array result = Napi::Array::New(c.env, 2);
  result.Set(0u, Napi::Number::New(c.env, total));
  result.Set(1u, handleOf(c, std::move(out)));
  return result;
}

// channelSum(handle) -> Float32Array[C]: sum over N, H, W (the bias gradient). Per-thread
// double partials added in thread order after the loop, so the result is deterministic.
// oneDNN 2.6's reduction primitive took 0.27 s for one 570x570x64 blocked gradient; this, 6 ms.
Napi::Value ChannelSum(Ctx& c) {
  Tensor& t = handleArg(c, 0, "x");
  Blocks k;
  if (!blocksOf(t.mem.get_desc(), k)) c.fail("x has an unsupported layout (NHWC dims " + nhwcStr(t.mem.get_desc().dims()) + ")");
  const int64_t rows = k.n * k.cb * k.hw, B = k.B, hw = k.hw, cb = k.cb, width = k.cb * k.B;
  const float* src = static_cast<const float*>(t.mem.get_data_handle());
  const int threads = omp_get_max_threads();
  std::vector<double> partial(static_cast<size_t>(threads * width), 0.0);
#pragma omp parallel num_threads(threads)
  {
    // Each thread's rows are the contiguous range OpenMP's static schedule gives it (q or q + 1
    // rows, the first rows % T threads one more), so the partial sums are those of the plain
    // `omp for` loop this replaced; the channel block is found once per plane, not by a division
    // per row (which took most of the time).
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads(), q = rows / T, rem = rows % T;
    const int64_t r0 = t * q + std::min(t, rem), r1 = r0 + q + (t < rem ? 1 : 0);
    double* acc = partial.data() + t * width;
    for (int64_t r = r0; r < r1;) {
      const int64_t plane = r / hw, end = std::min(r1, (plane + 1) * hw);
      double* a = acc + (plane % cb) * B;
      for (; r < end; r++) {
        const float* s = src + r * B;
#pragma omp simd
        for (int64_t l = 0; l < B; l++) a[l] += s[l];
      }
    }
  }
  Napi::Float32Array out = Napi::Float32Array::New(c.env, static_cast<size_t>(k.c));
  for (int64_t ch = 0; ch < k.c; ch++) {
    double v = 0.0;
    for (int th = 0; th < threads; th++) v += partial[static_cast<size_t>(th * width + ch)];
    out[static_cast<size_t>(ch)] = static_cast<float>(v);
  }
  return out;
}

// toNHWC(handle) -> Float32Array
Napi::Value ToNHWC(Ctx& c) {
  Tensor& t = handleArg(c, 0, "handle");
  auto d = t.mem.get_desc().dims();
  const size_t n = static_cast<size_t>(d[0] * d[1] * d[2] * d[3]);
  Napi::Float32Array out = Napi::Float32Array::New(c.env, n);
  memory plain({d, dt::f32, tag::nhwc}, c.st.engine, out.Data());
  reorderInto(c, t.mem, plain);
  c.st.stream.wait();
  return out;
}

// toHWIO(handle) -> Float32Array: a filter handle (OIHW dims, any layout) in TF.js' HWIO order
Napi::Value ToHWIO(Ctx& c) {
  Tensor& t = handleArg(c, 0, "handle");
  auto d = t.mem.get_desc().dims();
  if (d.size() != 4) c.fail("handle has dims " + dimsStr(d) + ", not the 4 of a filter");
  Napi::Float32Array out = Napi::Float32Array::New(c.env, static_cast<size_t>(d[0] * d[1] * d[2] * d[3]));
  memory plain({d, dt::f32, tag::hwio}, c.st.engine, out.Data());
  reorderInto(c, t.mem, plain);
  c.st.stream.wait();
  return out;
}

// fromHWIO(values, wDims, like) -> handle: an HWIO filter reordered into the layout of the filter
// handle `like` (a gradient), so that the optimizer can update it there.
Napi::Value FromHWIO(Ctx& c) {
  auto hwio = intArray(c, 1, 4, "wDims", 1);
  memory src = weights(c, 0, hwio);
  Tensor& like = handleArg(c, 2, "like");
  const memory::desc want = like.mem.get_desc();
  if (want.dims() != src.get_desc().dims()) c.fail("like has OIHW dims " + dimsStr(want.dims()) + ", expected " + dimsStr(src.get_desc().dims()) + " for HWIO " + dimsStr(hwio));
  Tensor out;
  allocTensor(c.st, out, want);
  reorderInto(c, src, out.mem);
  c.st.stream.wait();
  return handleOf(c, std::move(out));
}

// layout(handle) -> oneDNN's description of the memory format (for tests and debugging)
Napi::Value Layout(Ctx& c) { return Napi::String::New(c.env, layoutStr(handleArg(c, 0, "handle").mem.get_desc())); }

// free(handle): unknown handles are ignored (a tensor may be disposed after its data moved).
Napi::Value Free(Ctx& c) {
  auto it = c.st.tensors.find(handleValue(c, c[0], "handle"));
  if (it != c.st.tensors.end()) {
    c.st.bytes -= static_cast<int64_t>(it->second.mem.get_desc().get_size());
    if (it->second.hasWs) c.st.bytes -= static_cast<int64_t>(it->second.ws.get_desc().get_size());
    c.st.tensors.erase(it);
  }
  return c.env.Undefined();
}

Napi::Value Stats(Ctx& c) {
  Napi::Object o = Napi::Object::New(c.env);
  o.Set("tensors", Napi::Number::New(c.env, static_cast<double>(c.st.tensors.size())));
  o.Set("bytes", Napi::Number::New(c.env, static_cast<double>(c.st.bytes)));
  o.Set("mappedBytes", Napi::Number::New(c.env, static_cast<double>(c.st.mappedInUse)));
  o.Set("mappedPeakBytes", Napi::Number::New(c.env, static_cast<double>(c.st.mappedPeak)));
  o.Set("pooledBytes", Napi::Number::New(c.env, static_cast<double>(c.st.pooled)));
  return o;
}

// primitiveCache() -> { entries, hits, misses, reorders, reorderBytes }: the cache of convolution and reorder primitives (tests, bench).
Napi::Value PrimitiveCache(Ctx& c) {
  Napi::Object o = Napi::Object::New(c.env);
  const size_t entries = c.st.convFwd.size() + c.st.convFwdPrim.size() + c.st.convBwdData.size() + c.st.convBwdDataPrim.size() +
                         c.st.convBwdWeights.size() + c.st.convBwdWeightsPrim.size() + c.st.reorders.size();
  o.Set("entries", Napi::Number::New(c.env, static_cast<double>(entries)));
  o.Set("hits", Napi::Number::New(c.env, static_cast<double>(c.st.cacheHits)));
  o.Set("misses", Napi::Number::New(c.env, static_cast<double>(c.st.cacheMisses)));
  o.Set("reorders", Napi::Number::New(c.env, static_cast<double>(c.st.reorderRuns)));
  o.Set("reorderBytes", Napi::Number::New(c.env, static_cast<double>(c.st.reorderBytes)));
  return o;
}

// setThreads(n): OpenMP threads of the calling thread's parallel regions.
Napi::Value SetThreads(Ctx& c) {
  Napi::Value v = c[0];
  const int64_t n = intAt(c, v, "threads", -1, 1);
  omp_set_num_threads(static_cast<int>(n));
  return c.env.Undefined();
}

Napi::Value Info(Ctx& c) {
  const dnnl_version_t* v = dnnl_version();
  Napi::Object o = Napi::Object::New(c.env);
  o.Set("version", Napi::String::New(c.env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)));
  o.Set("threads", Napi::Number::New(c.env, omp_get_max_threads()));
  return o;
}

// ---------------------------------------------------------------------------------
// The guard around every entry point

// "x Float32Array(75), filter Float32Array(108), ..., xDims [1,5,5,3]": the call's arguments
// for an error that our own checks did not anticipate (oneDNN's, the allocator's). Never throws.
std::string describeArgs(const Napi::CallbackInfo& info, State* st, const KernelInfo& k) {
  std::string s;
  try {
    for (size_t i = 0; i < k.args.size() && k.args[i]; i++) {
      const char* name = k.args[i];
      const bool maybeHandle = name[0] == '@';
      if (maybeHandle) name++;
      Napi::Value v = info[i];
      s += (i ? ", " : "") + std::string(name) + " ";
      if (v.IsTypedArray()) {
        Napi::TypedArray a = v.As<Napi::TypedArray>();
        s += std::string(typedArrayName(a.TypedArrayType())) + "(" + std::to_string(a.ElementLength()) + ")";
      } else if (v.IsArray()) {
        s += arrayStr(v.As<Napi::Array>());
      } else if (v.IsNumber() && maybeHandle && st) {
        const double d = v.As<Napi::Number>().DoubleValue();
        auto it = st->tensors.find(static_cast<int64_t>(d));
        s += "handle " + numStr(d) + (d == std::floor(d) && it != st->tensors.end() ? " (NHWC " + nhwcStr(it->second.mem.get_desc().dims()) + ")" : " (unknown)");
      } else if (v.IsBoolean()) {
        s += v.As<Napi::Boolean>().Value() ? "true" : "false";
      } else {
        s += v.IsNumber() ? numStr(v.As<Napi::Number>().DoubleValue()) : kindOf(v);
      }
    }
  } catch (...) {
    s += "...";
  }
  return s;
}

// Runs a kernel; every exception becomes a JS error starting "onednn <kernel>: ". Before
// this, a std::bad_alloc (a huge shape) escaped N-API and aborted Node.
template <Napi::Value (*F)(Ctx&), const KernelInfo& K>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = env.GetInstanceData<State>();
  if (!st) throw Napi::Error::New(env, std::string("onednn ") + K.name + ": the addon was not initialised in this environment");
  struct ClearScratch {
    State* st;
    ~ClearScratch() { st->scratch.clear(); }
  } clearScratch{st};
  auto prefix = [] { return std::string("onednn ") + K.name + ": "; };
  try {
    Ctx c{info, env, *st, K};
    return F(c);
  } catch (const Napi::Error& e) {
    const std::string msg = e.Message();
    if (msg.rfind("onednn ", 0) == 0) throw;
    throw Napi::Error::New(env, prefix() + msg + "; arguments: " + describeArgs(info, st, K));  // N-API's own (e.g. a failed JS allocation)
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(env, prefix() + e.what() + " (status " + std::to_string(static_cast<int>(e.status)) + "); arguments: " + describeArgs(info, st, K));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, prefix() + e.what() + "; arguments: " + describeArgs(info, st, K));
  } catch (...) {
    throw Napi::Error::New(env, prefix() + "unknown native exception; arguments: " + describeArgs(info, st, K));
  }
}

// UNET_POOL_MB: unset or empty for the default 128; else a finite number of megabytes >= 0
// (0 disables the pool). Anything else is refused: a negative value used to be cast to size_t.
size_t poolCapFromEnv(Napi::Env env) {
  const char* v = std::getenv("UNET_POOL_MB");
  if (!v || !*v) return size_t{128} << 20;
  char* end = nullptr;
  errno = 0;
  const double mb = std::strtod(v, &end);
  constexpr double kMaxMb = 1 << 20;  // 1 TiB
  if (end == v || *end != '\0' || errno == ERANGE || !std::isfinite(mb) || mb < 0 || mb > kMaxMb) {
    throw Napi::Error::New(env, std::string("onednn: UNET_POOL_MB=") + v + " is not a number of megabytes >= 0 and <= " + numStr(kMaxMb) +
                                    " (the size of the pool of freed buffers; 0 disables it, unset means 128)");
  }
  return static_cast<size_t>(mb * 1048576.0);
}

#define KERNEL(var, name, ...) constexpr KernelInfo var{name, {__VA_ARGS__}};
KERNEL(kConv2d, "conv2d", "@x", "filter", "bias", "relu", "xDims", "wDims", "yDims", "strides", "pads", "dilations")
KERNEL(kConv2dBackpropInput, "conv2dBackpropInput", "@dy", "filter", "xDims", "wDims", "yDims", "strides", "pads", "dilations")
KERNEL(kConv2dBackpropFilter, "conv2dBackpropFilter", "@x", "@dy", "xDims", "wDims", "yDims", "strides", "pads", "dilations", "asHandle")
KERNEL(kConv2dBackpropFilterBias, "conv2dBackpropFilterBias", "@x", "@dy", "xDims", "wDims", "yDims", "strides", "pads", "dilations", "asHandle")
KERNEL(kMaxPool, "maxPool", "@x", "xDims", "yDims", "kernel", "strides", "pads")
KERNEL(kMaxPoolGrad, "maxPoolGrad", "@dy", "@x", "@y", "xDims", "yDims", "kernel", "strides", "pads")
KERNEL(kRelu, "relu", "@x", "xDims")
KERNEL(kBinary, "binary", "op", "@a", "@b")
KERNEL(kStep, "step", "@x")
KERNEL(kToNHWC, "toNHWC", "@handle")
KERNEL(kToHWIO, "toHWIO", "handle")
KERNEL(kFromHWIO, "fromHWIO", "values", "wDims", "like")
KERNEL(kSlice, "slice", "@x", "begin", "size")
KERNEL(kPad, "pad", "@x", "before", "after")
KERNEL(kConcat, "concat", "handles")
KERNEL(kBiasAdd, "biasAdd", "@x", "bias")
KERNEL(kChannelSum, "channelSum", "@x")
KERNEL(kScale, "scale", "@x", "scale")
KERNEL(kSoftmaxCrossEntropy, "softmaxCrossEntropy", "@logits", "labels", "weights")
KERNEL(kLayout, "layout", "@handle")
KERNEL(kMomentumUpdate, "momentumUpdate", "value", "accumulation", "gradient", "momentum", "scale")
KERNEL(kAdamUpdate, "adamUpdate", "value", "first moment", "second moment", "gradient", "coefficients")
KERNEL(kFree, "free", "@handle")
KERNEL(kStats, "stats")
KERNEL(kPrimitiveCache, "primitiveCache")
KERNEL(kSetThreads, "setThreads", "threads")
KERNEL(kInfo, "info")
#undef KERNEL

template <Napi::Value (*F)(Ctx&), const KernelInfo& K>
void expose(Napi::Env env, Napi::Object exports) {
  exports.Set(K.name, Napi::Function::New(env, guarded<F, K>, K.name));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<State>(new State(poolCapFromEnv(env)));
  expose<Conv2d, kConv2d>(env, exports);
  expose<Conv2dBackpropInput, kConv2dBackpropInput>(env, exports);
  expose<Conv2dBackpropFilter, kConv2dBackpropFilter>(env, exports);
  expose<Conv2dBackpropFilterBias, kConv2dBackpropFilterBias>(env, exports);
  expose<MaxPool, kMaxPool>(env, exports);
  expose<MaxPoolGrad, kMaxPoolGrad>(env, exports);
  expose<Relu, kRelu>(env, exports);
  expose<Binary, kBinary>(env, exports);
  expose<Step, kStep>(env, exports);
  expose<ToNHWC, kToNHWC>(env, exports);
  expose<ToHWIO, kToHWIO>(env, exports);
  expose<FromHWIO, kFromHWIO>(env, exports);
  expose<Slice, kSlice>(env, exports);
  expose<Pad, kPad>(env, exports);
  expose<Concat, kConcat>(env, exports);
  expose<BiasAdd, kBiasAdd>(env, exports);
  expose<ChannelSum, kChannelSum>(env, exports);
  expose<Scale, kScale>(env, exports);
  expose<SoftmaxCrossEntropy, kSoftmaxCrossEntropy>(env, exports);
  expose<Layout, kLayout>(env, exports);
  expose<MomentumUpdate, kMomentumUpdate>(env, exports);
  expose<AdamUpdate, kAdamUpdate>(env, exports);
  expose<Free, kFree>(env, exports);
  expose<Stats, kStats>(env, exports);
  expose<PrimitiveCache, kPrimitiveCache>(env, exports);
  expose<SetThreads, kSetThreads>(env, exports);
  expose<Info, kInfo>(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(unet_onednn, Init)
