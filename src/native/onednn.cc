// unet-ts native backend: oneDNN (2.6) primitives behind a small N-API surface.
//
// Activations live here as oneDNN memories in the layout the primitive that made
// them preferred (e.g. nChw16c); JavaScript holds integer handles and asks for an
// NHWC Float32Array only when it reads the values. Every activation argument is
// either a handle (number) or an NHWC Float32Array; weights always travel as HWIO
// Float32Arrays (TF.js' layout) and are reordered per call.
#include <napi.h>
#include <sys/mman.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

dnnl::engine& eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& strm() {
  static dnnl::stream s(eng());
  return s;
}

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
size_t poolCap() {
  static const size_t cap = [] {
    const char* v = std::getenv("UNET_POOL_MB");
    return static_cast<size_t>(v ? std::atof(v) : 128.0) << 20;
  }();
  return cap;
}
std::unordered_map<size_t, std::vector<void*>> g_pool;
size_t g_pooled = 0;

std::shared_ptr<void> allocate(size_t bytes) {
  constexpr size_t kLarge = size_t{1} << 21;
  if (bytes < kLarge) {
    void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return std::shared_ptr<void>(p, std::free);
  }
  const size_t len = (bytes + 4095) / 4096 * 4096;
  void* p = nullptr;
  auto it = g_pool.find(len);
  if (it != g_pool.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    g_pooled -= len;
  } else {
    p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
  }
  return std::shared_ptr<void>(p, [len](void* q) {
    // Blocks over 16 MiB (the big early-level activations of large nets) are returned at once:
    // pooling them bought little time and most of the extra peak memory.
    if (len <= (size_t{16} << 20) && g_pooled + len <= poolCap()) {
      g_pool[len].push_back(q);
      g_pooled += len;
    } else {
      munmap(q, len);
    }
  });
}

// Buffers of a call's temporary memories (reorders), released when the call returns.
std::vector<std::shared_ptr<void>> g_scratch;

memory scratchMemory(const memory::desc& d) {
  g_scratch.push_back(allocate(d.get_size()));
  return memory(d, eng(), g_scratch.back().get());
}

struct Tensor {
  std::shared_ptr<void> buf;
  void alloc(const memory::desc& d) {
    buf = allocate(d.get_size());
    mem = memory(d, eng(), buf.get());
  }
  memory mem;
  // Max-pool workspace of the forward that produced this tensor (for MaxPoolGrad).
  memory ws;
  bool hasWs = false;
  memory::desc poolSrcDesc;
  std::vector<int64_t> pool;  // kh, kw, sh, sw, pt, pl, pb, pr
};

std::unordered_map<int64_t, Tensor> g_tensors;
int64_t g_next = 1;
int64_t g_bytes = 0;



int64_t store(Tensor t) {
  g_bytes += static_cast<int64_t>(t.mem.get_desc().get_size());
  if (t.hasWs) g_bytes += static_cast<int64_t>(t.ws.get_desc().get_size());
  int64_t id = g_next++;
  g_tensors.emplace(id, std::move(t));
  return id;
}

Tensor& lookup(Napi::Env env, int64_t id) {
  auto it = g_tensors.find(id);
  if (it == g_tensors.end()) throw Napi::Error::New(env, "onednn: unknown tensor handle " + std::to_string(id));
  return it->second;
}

std::vector<int64_t> ints(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

std::string dimsStr(const memory::dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); i++) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// An activation argument: handle or NHWC Float32Array with logical NHWC dims `nhwc`.
memory activation(Napi::Env env, const Napi::Value& v, const std::vector<int64_t>& nhwc, const char* what) {
  memory::dims nchw{nhwc[0], nhwc[3], nhwc[1], nhwc[2]};
  if (v.IsNumber()) {
    Tensor& t = lookup(env, v.As<Napi::Number>().Int64Value());
    if (t.mem.get_desc().dims() != nchw) {
      throw Napi::Error::New(env, std::string("onednn: ") + what + " handle has dims " + dimsStr(t.mem.get_desc().dims()) + ", expected NCHW " + dimsStr(nchw));
    }
    return t.mem;
  }
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string("onednn: ") + what + " must be a handle or a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  size_t n = static_cast<size_t>(nhwc[0] * nhwc[1] * nhwc[2] * nhwc[3]);
  if (a.ElementLength() != n) throw Napi::Error::New(env, std::string("onednn: ") + what + " has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(n));
  return memory({nchw, dt::f32, tag::nhwc}, eng(), a.Data());
}

// HWIO weights [kh, kw, ci, co] as a oneDNN OIHW memory over the JS buffer.
memory weights(Napi::Env env, const Napi::Value& v, const std::vector<int64_t>& hwio) {
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  size_t n = static_cast<size_t>(hwio[0] * hwio[1] * hwio[2] * hwio[3]);
  if (a.ElementLength() != n) throw Napi::Error::New(env, "onednn: filter has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(n));
  return memory({{hwio[3], hwio[2], hwio[0], hwio[1]}, dt::f32, tag::hwio}, eng(), a.Data());
}

memory ensure(const memory& m, const memory::desc& want) {
  if (m.get_desc() == want) return m;
  memory out = scratchMemory(want);
  dnnl::reorder(m, out).execute(strm(), const_cast<memory&>(m), out);
  return out;
}

Napi::Value handleOf(Napi::Env env, Tensor t) { return Napi::Number::New(env, static_cast<double>(store(std::move(t)))); }

struct ConvGeom {
  std::vector<int64_t> x, w, y;  // NHWC, HWIO, NHWC
  memory::dims strides, dil, padL, padR;
};

// args: xdims, wdims, ydims, strides[2], pads[4] (top, left, bottom, right), dilations[2]
ConvGeom geom(const Napi::CallbackInfo& info, size_t at) {
  ConvGeom g;
  g.x = ints(info[at]);
  g.w = ints(info[at + 1]);
  g.y = ints(info[at + 2]);
  auto s = ints(info[at + 3]);
  auto p = ints(info[at + 4]);
  auto d = ints(info[at + 5]);
  g.strides = {s[0], s[1]};
  g.padL = {p[0], p[1]};
  g.padR = {p[2], p[3]};
  g.dil = {d[0] - 1, d[1] - 1};
  return g;
}

memory::desc anyAct(const std::vector<int64_t>& nhwc) { return {{nhwc[0], nhwc[3], nhwc[1], nhwc[2]}, dt::f32, tag::any}; }
memory::desc anyWei(const std::vector<int64_t>& hwio) { return {{hwio[3], hwio[2], hwio[0], hwio[1]}, dt::f32, tag::any}; }

dnnl::convolution_forward::primitive_desc convFwdPd(const ConvGeom& g, bool bias, bool relu, dnnl::prop_kind prop) {
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  if (bias) {
    memory::desc bmd({g.w[3]}, dt::f32, tag::x);
    dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, anyAct(g.x), anyWei(g.w), bmd, anyAct(g.y), g.strides, g.dil, g.padL, g.padR);
    return {d, attr, eng()};
  }
  dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, anyAct(g.x), anyWei(g.w), anyAct(g.y), g.strides, g.dil, g.padL, g.padR);
  return {d, attr, eng()};
}

// conv2d(x, w, bias|null, relu, xdims, wdims, ydims, strides, pads, dilations) -> handle
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeom g = geom(info, 4);
  bool hasBias = !info[2].IsNull() && !info[2].IsUndefined();
  bool relu = info[3].ToBoolean();
  auto pd = convFwdPd(g, hasBias, relu, dnnl::prop_kind::forward_inference);
  memory src = ensure(activation(env, info[0], g.x, "conv2d x"), pd.src_desc());
  memory wei = ensure(weights(env, info[1], g.w), pd.weights_desc());
  Tensor out;
  out.alloc(pd.dst_desc());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, out.mem}};
  memory b;
  if (hasBias) {
    Napi::Float32Array ba = info[2].As<Napi::Float32Array>();
    if (static_cast<int64_t>(ba.ElementLength()) != g.w[3]) throw Napi::Error::New(env, "onednn: conv2d bias length mismatch");
    b = memory({{g.w[3]}, dt::f32, tag::x}, eng(), ba.Data());
    args[DNNL_ARG_BIAS] = b;
  }
  dnnl::convolution_forward(pd).execute(strm(), args);
  strm().wait();
  return handleOf(env, std::move(out));
}

// conv2dBackpropInput(dy, w, xdims, wdims, ydims, strides, pads, dilations) -> handle (dx)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeom g = geom(info, 2);
  auto fwd = convFwdPd(g, false, false, dnnl::prop_kind::forward_training);
  dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, anyAct(g.x), anyWei(g.w), anyAct(g.y), g.strides, g.dil, g.padL, g.padR);
  dnnl::convolution_backward_data::primitive_desc pd(d, eng(), fwd);
  memory dy = ensure(activation(env, info[0], g.y, "conv2dBackpropInput dy"), pd.diff_dst_desc());
  memory wei = ensure(weights(env, info[1], g.w), pd.weights_desc());
  Tensor out;
  out.alloc(pd.diff_src_desc());
  dnnl::convolution_backward_data(pd).execute(strm(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, out.mem}});
  strm().wait();
  return handleOf(env, std::move(out));
}

// conv2dBackpropFilter(x, dy, xdims, wdims, ydims, strides, pads, dilations) -> Float32Array HWIO
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeom g = geom(info, 2);
  auto fwd = convFwdPd(g, false, false, dnnl::prop_kind::forward_training);
  dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, anyAct(g.x), anyWei(g.w), anyAct(g.y), g.strides, g.dil, g.padL, g.padR);
  dnnl::convolution_backward_weights::primitive_desc pd(d, eng(), fwd);
  memory src = ensure(activation(env, info[0], g.x, "conv2dBackpropFilter x"), pd.src_desc());
  memory dy = ensure(activation(env, info[1], g.y, "conv2dBackpropFilter dy"), pd.diff_dst_desc());
  memory dw = scratchMemory(pd.diff_weights_desc());
  dnnl::convolution_backward_weights(pd).execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
  size_t n = static_cast<size_t>(g.w[0] * g.w[1] * g.w[2] * g.w[3]);
  Napi::Float32Array out = Napi::Float32Array::New(env, n);
  memory plain({{g.w[3], g.w[2], g.w[0], g.w[1]}, dt::f32, tag::hwio}, eng(), out.Data());
  dnnl::reorder(dw, plain).execute(strm(), dw, plain);
  strm().wait();
  return out;
}

struct PoolGeom {
  std::vector<int64_t> x, y;
  memory::dims kernel, strides, padL, padR;
  std::vector<int64_t> key;
};

// args at `at`: xdims, ydims, kernel[2], strides[2], pads[4]
PoolGeom poolGeom(const Napi::CallbackInfo& info, size_t at) {
  PoolGeom g;
  g.x = ints(info[at]);
  g.y = ints(info[at + 1]);
  auto k = ints(info[at + 2]);
  auto s = ints(info[at + 3]);
  auto p = ints(info[at + 4]);
  g.kernel = {k[0], k[1]};
  g.strides = {s[0], s[1]};
  g.padL = {p[0], p[1]};
  g.padR = {p[2], p[3]};
  g.key = {k[0], k[1], s[0], s[1], p[0], p[1], p[2], p[3]};
  return g;
}

dnnl::pooling_forward::primitive_desc poolFwdPd(const PoolGeom& g, const memory::desc& src) {
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src, anyAct(g.y), g.strides, g.kernel, g.padL, g.padR);
  return {d, eng()};
}

// maxPool(x, xdims, ydims, kernel, strides, pads) -> handle (keeps the workspace for MaxPoolGrad)
Napi::Value MaxPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PoolGeom g = poolGeom(info, 1);
  memory src = activation(env, info[0], g.x, "maxPool x");
  auto pd = poolFwdPd(g, src.get_desc());
  Tensor out;
  out.alloc(pd.dst_desc());
  out.ws = memory(pd.workspace_desc(), eng());
  out.hasWs = true;
  out.poolSrcDesc = src.get_desc();
  out.pool = g.key;
  dnnl::pooling_forward(pd).execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem}, {DNNL_ARG_WORKSPACE, out.ws}});
  strm().wait();
  return handleOf(env, std::move(out));
}

// maxPoolGrad(dy, x, y|null, xdims, ydims, kernel, strides, pads) -> handle (dx)
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PoolGeom g = poolGeom(info, 3);
  memory ws;
  memory::desc srcDesc;
  bool have = false;
  if (info[2].IsNumber()) {
    Tensor& y = lookup(env, info[2].As<Napi::Number>().Int64Value());
    if (y.hasWs && y.pool == g.key && y.poolSrcDesc.dims() == memory::dims{g.x[0], g.x[3], g.x[1], g.x[2]}) {
      ws = y.ws;
      srcDesc = y.poolSrcDesc;
      have = true;
    }
  }
  if (!have) {  // recompute the forward to get the argmax workspace
    memory src = activation(env, info[1], g.x, "maxPoolGrad x");
    srcDesc = src.get_desc();
    auto fpd = poolFwdPd(g, srcDesc);
    ws = memory(fpd.workspace_desc(), eng());
    memory dst(fpd.dst_desc(), eng());
    dnnl::pooling_forward(fpd).execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, ws}});
  }
  auto fpd = poolFwdPd(g, srcDesc);
  dnnl::pooling_backward::desc d(dnnl::algorithm::pooling_max, srcDesc, fpd.dst_desc(), g.strides, g.kernel, g.padL, g.padR);
  dnnl::pooling_backward::primitive_desc pd(d, eng(), fpd);
  memory dy = ensure(activation(env, info[0], g.y, "maxPoolGrad dy"), pd.diff_dst_desc());
  Tensor out;
  out.alloc(pd.diff_src_desc());
  dnnl::pooling_backward(pd).execute(strm(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, out.mem}, {DNNL_ARG_WORKSPACE, ws}});
  strm().wait();
  return handleOf(env, std::move(out));
}

// relu(x, xdims) -> handle, same layout as x
Napi::Value Relu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto xd = ints(info[1]);
  memory src = activation(env, info[0], xd, "relu x");
  dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu, src.get_desc(), 0.f, 0.f);
  dnnl::eltwise_forward::primitive_desc pd(d, eng());
  Tensor out;
  out.alloc(pd.dst_desc());
  dnnl::eltwise_forward(pd).execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem}});
  strm().wait();
  return handleOf(env, std::move(out));
}

// Element-wise ops on handles of equal dims, computed in a's layout (padding lanes are zero and stay zero).
// binary(op, a, b) with op 0 = add, 1 = mul, 2 = relu grad (a * (b > 0)), 3 = sub; b a handle or NHWC Float32Array
// -> handle | null when the dims differ
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  Tensor& a = lookup(env, info[1].As<Napi::Number>().Int64Value());
  auto d = a.mem.get_desc().dims();
  memory bsrc;
  if (info[2].IsNumber()) {
    bsrc = lookup(env, info[2].As<Napi::Number>().Int64Value()).mem;
    if (bsrc.get_desc().dims() != d) return env.Null();
  } else {  // an NHWC Float32Array of a's dims (e.g. a dropout mask made in JavaScript)
    if (d.size() != 4) return env.Null();
    bsrc = activation(env, info[2], {d[0], d[2], d[3], d[1]}, "binary b");
  }
  memory bm = ensure(bsrc, a.mem.get_desc());  // reorder b into a's layout when they differ
  strm().wait();
  Tensor out;
  out.alloc(a.mem.get_desc());
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
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) po[i] = pb[i] > 0.f ? pa[i] : (pb[i] != pb[i] ? pb[i] : 0.f);
      break;
    case 3:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) po[i] = pa[i] - pb[i];
      break;
    default:
      throw Napi::Error::New(env, "onednn: unknown binary op " + std::to_string(op));
  }
  return handleOf(env, std::move(out));
}

// step(x) -> handle: 1 where x > 0 else 0, same layout (TF.js Step with alpha 0)
Napi::Value Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor& a = lookup(env, info[0].As<Napi::Number>().Int64Value());
  Tensor out;
  out.alloc(a.mem.get_desc());
  const float* pa = static_cast<const float*>(a.mem.get_data_handle());
  float* po = static_cast<float*>(out.mem.get_data_handle());
  int64_t n = static_cast<int64_t>(a.mem.get_desc().get_size() / sizeof(float));
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) po[i] = pa[i] > 0.f ? 1.f : (pa[i] != pa[i] ? pa[i] : 0.f);
  return handleOf(env, std::move(out));
}

// Optimizer updates, in place on the JS arrays of the weights and slots. Each operation is
// rounded as TF.js' CPU kernels round it (JavaScript double arithmetic, stored as float32:
// (float)((double)a op (double)b)), with IEEE denormals, so the results are bit for bit those
// of src/train/optimizers.ts and of tf.train.momentum / tf.train.adam.
float* f32Data(Napi::Env env, const Napi::Value& v, size_t n, const char* what) {
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != n) throw Napi::Error::New(env, std::string("onednn: ") + what + " has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(n));
  return a.Data();
}

inline float r(double x) { return static_cast<float>(x); }

template <typename F>
void parallelFor(int64_t n, F body) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) body(i);
}

// momentumUpdate(value, accumulation, gradient, m, c): acc = m * acc + g; value = c * acc + value (c = -lr)
Napi::Value MomentumUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = info[0].As<Napi::Float32Array>().ElementLength();
  float* v = f32Data(env, info[0], n, "momentumUpdate value");
  float* a = f32Data(env, info[1], n, "momentumUpdate accumulation");
  const float* g = f32Data(env, info[2], n, "momentumUpdate gradient");
  const double m = info[3].As<Napi::Number>().DoubleValue();
  const double c = info[4].As<Napi::Number>().DoubleValue();
  parallelFor(static_cast<int64_t>(n), [=](int64_t k) {
    float acc = r(static_cast<double>(r(m * a[k])) + g[k]);
    a[k] = acc;
    v[k] = r(static_cast<double>(r(c * acc)) + v[k]);
  });
  return env.Undefined();
}

// adamUpdate(value, m, v, gradient, [b1, b2, 1-b1, 1-b2, 1-b1^t, 1-b2^t, eps, -lr]) as TF.js' AdamOptimizer
Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = info[0].As<Napi::Float32Array>().ElementLength();
  float* w = f32Data(env, info[0], n, "adamUpdate value");
  float* m = f32Data(env, info[1], n, "adamUpdate first moment");
  float* v = f32Data(env, info[2], n, "adamUpdate second moment");
  const float* g = f32Data(env, info[3], n, "adamUpdate gradient");
  Napi::Array p = info[4].As<Napi::Array>();
  double c[8];
  for (uint32_t i = 0; i < 8; i++) c[i] = p.Get(i).As<Napi::Number>().DoubleValue();
  const double b1 = c[0], b2 = c[1], omb1 = c[2], omb2 = c[3], omab1 = c[4], omab2 = c[5], eps = c[6], nlr = c[7];
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
  return env.Undefined();
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

// slice(handle, begin nhwc, size nhwc) -> handle | null (null: layout or offsets not supported)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor& t = lookup(env, info[0].As<Napi::Number>().Int64Value());
  auto b = ints(info[1]);
  auto z = ints(info[2]);
  tag tg;
  if (!tagOf(t.mem.get_desc(), tg)) return env.Null();
  int64_t block = tg == tag::nChw16c ? 16 : tg == tag::nChw8c ? 8 : 1;
  if (b[3] % block != 0 || (z[3] % block != 0 && b[3] + z[3] != t.mem.get_desc().dims()[1])) return env.Null();
  memory::dims dims{z[0], z[3], z[1], z[2]}, offs{b[0], b[3], b[1], b[2]};
  memory::desc sub = t.mem.get_desc().submemory_desc(dims, offs);
  memory src(sub, eng(), t.mem.get_data_handle());
  Tensor out;
  out.alloc({dims, dt::f32, tg});
  dnnl::reorder(src, out.mem).execute(strm(), src, out.mem);
  strm().wait();
  return handleOf(env, std::move(out));
}

// pad(handle, before nhwc, after nhwc) -> handle | null: zero padding (TF.js PadV2 with constant 0)
Napi::Value Pad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor& t = lookup(env, info[0].As<Napi::Number>().Int64Value());
  auto b = ints(info[1]);
  auto a = ints(info[2]);
  tag tg;
  if (!tagOf(t.mem.get_desc(), tg)) return env.Null();
  int64_t block = tg == tag::nChw16c ? 16 : tg == tag::nChw8c ? 8 : 1;
  if (b[3] != 0 || a[3] != 0 || block == 0) return env.Null();
  auto d = t.mem.get_desc().dims();
  memory::dims dims{d[0] + b[0] + a[0], d[1], d[2] + b[1] + a[1], d[3] + b[2] + a[2]};
  Tensor out;
  out.alloc({dims, dt::f32, tg});
  std::memset(out.mem.get_data_handle(), 0, out.mem.get_desc().get_size());
  memory::desc sub = out.mem.get_desc().submemory_desc(d, {b[0], 0, b[1], b[2]});
  memory dst(sub, eng(), out.mem.get_data_handle());
  dnnl::reorder(t.mem, dst).execute(strm(), t.mem, dst);
  strm().wait();
  return handleOf(env, std::move(out));
}

// concat(handles[], axis = channels) -> handle (oneDNN picks the output layout)
Napi::Value Concat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array hs = info[0].As<Napi::Array>();
  std::vector<memory::desc> mds;
  std::vector<memory> mems;
  for (uint32_t i = 0; i < hs.Length(); i++) {
    Tensor& t = lookup(env, hs.Get(i).As<Napi::Number>().Int64Value());
    mds.push_back(t.mem.get_desc());
    mems.push_back(t.mem);
  }
  dnnl::concat::primitive_desc pd(1, mds, eng());
  Tensor out;
  out.alloc(pd.dst_desc());
  std::unordered_map<int, memory> args{{DNNL_ARG_DST, out.mem}};
  for (size_t i = 0; i < mems.size(); i++) args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = mems[i];
  dnnl::concat(pd).execute(strm(), args);
  strm().wait();
  return handleOf(env, std::move(out));
}

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

// biasAdd(handle, Float32Array[C]) -> handle, same layout. A plain loop: oneDNN 2.6's
// binary primitive took ~0.5 s for a 392x392x64 blocked tensor (a reference kernel).
Napi::Value BiasAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor& t = lookup(env, info[0].As<Napi::Number>().Int64Value());
  Napi::Float32Array bias = info[1].As<Napi::Float32Array>();
  Blocks k;
  if (!blocksOf(t.mem.get_desc(), k)) throw Napi::Error::New(env, "onednn: biasAdd on an unsupported layout");
  if (static_cast<int64_t>(bias.ElementLength()) != k.c) throw Napi::Error::New(env, "onednn: biasAdd length mismatch");
  std::vector<float> b(static_cast<size_t>(k.cb * k.B), 0.f);
  std::copy(bias.Data(), bias.Data() + k.c, b.begin());
  Tensor out;
  out.alloc(t.mem.get_desc());
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
  return handleOf(env, std::move(out));
}

// channelSum(handle) -> Float32Array[C]: sum over N, H, W (the bias gradient). Per-thread
// double partials added in thread order after the loop, so the result is deterministic.
// oneDNN 2.6's reduction primitive took 0.27 s for one 570x570x64 blocked gradient; this, 6 ms.
Napi::Value ChannelSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor& t = lookup(env, info[0].As<Napi::Number>().Int64Value());
  Blocks k;
  if (!blocksOf(t.mem.get_desc(), k)) throw Napi::Error::New(env, "onednn: channelSum on an unsupported layout");
  const int64_t rows = k.n * k.cb * k.hw, B = k.B, hw = k.hw, cb = k.cb, width = k.cb * k.B;
  const float* src = static_cast<const float*>(t.mem.get_data_handle());
  const int threads = omp_get_max_threads();
  std::vector<double> partial(static_cast<size_t>(threads * width), 0.0);
#pragma omp parallel num_threads(threads)
  {
    double* acc = partial.data() + omp_get_thread_num() * width;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      double* a = acc + ((r / hw) % cb) * B;
      const float* s = src + r * B;
#pragma omp simd
      for (int64_t l = 0; l < B; l++) a[l] += s[l];
    }
  }
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(k.c));
  for (int64_t c = 0; c < k.c; c++) {
    double v = 0.0;
    for (int th = 0; th < threads; th++) v += partial[static_cast<size_t>(th * width + c)];
    out[static_cast<size_t>(c)] = static_cast<float>(v);
  }
  return out;
}

// toNHWC(handle) -> Float32Array
Napi::Value ToNHWC(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor& t = lookup(env, info[0].As<Napi::Number>().Int64Value());
  auto d = t.mem.get_desc().dims();
  size_t n = static_cast<size_t>(d[0] * d[1] * d[2] * d[3]);
  Napi::Float32Array out = Napi::Float32Array::New(env, n);
  memory plain({d, dt::f32, tag::nhwc}, eng(), out.Data());
  dnnl::reorder(t.mem, plain).execute(strm(), t.mem, plain);
  strm().wait();
  return out;
}

// layout(handle) -> oneDNN's description of the memory format (for tests and debugging)
Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor& t = lookup(env, info[0].As<Napi::Number>().Int64Value());
  const dnnl_memory_desc_t& md = t.mem.get_desc().data;
  if (md.format_kind != dnnl_blocked) return Napi::String::New(env, "non-blocked");
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
  return Napi::String::New(env, s);
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  auto it = g_tensors.find(info[0].As<Napi::Number>().Int64Value());
  if (it != g_tensors.end()) {
    g_bytes -= static_cast<int64_t>(it->second.mem.get_desc().get_size());
    if (it->second.hasWs) g_bytes -= static_cast<int64_t>(it->second.ws.get_desc().get_size());
    g_tensors.erase(it);
  }
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("tensors", Napi::Number::New(info.Env(), static_cast<double>(g_tensors.size())));
  o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(g_bytes)));
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  omp_set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", Napi::String::New(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)));
  o.Set("threads", Napi::Number::New(env, omp_get_max_threads()));
  return o;
}

// Converts oneDNN's C++ exceptions into JS errors naming the primitive's status.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  struct ClearScratch {
    ~ClearScratch() { g_scratch.clear(); }
  } clearScratch;
  try {
    return F(info);
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("onednn: ") + e.what() + " (status " + std::to_string(static_cast<int>(e.status)) + ")");
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, guarded<Conv2d>));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, guarded<Conv2dBackpropInput>));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, guarded<Conv2dBackpropFilter>));
  exports.Set("maxPool", Napi::Function::New(env, guarded<MaxPool>));
  exports.Set("maxPoolGrad", Napi::Function::New(env, guarded<MaxPoolGrad>));
  exports.Set("relu", Napi::Function::New(env, guarded<Relu>));
  exports.Set("binary", Napi::Function::New(env, guarded<Binary>));
  exports.Set("step", Napi::Function::New(env, guarded<Step>));
  exports.Set("toNHWC", Napi::Function::New(env, guarded<ToNHWC>));
  exports.Set("slice", Napi::Function::New(env, guarded<Slice>));
  exports.Set("pad", Napi::Function::New(env, guarded<Pad>));
  exports.Set("concat", Napi::Function::New(env, guarded<Concat>));
  exports.Set("biasAdd", Napi::Function::New(env, guarded<BiasAdd>));
  exports.Set("channelSum", Napi::Function::New(env, guarded<ChannelSum>));
  exports.Set("layout", Napi::Function::New(env, guarded<Layout>));
  exports.Set("momentumUpdate", Napi::Function::New(env, guarded<MomentumUpdate>));
  exports.Set("adamUpdate", Napi::Function::New(env, guarded<AdamUpdate>));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(unet_onednn, Init)
