/*
 * mobilevid_runner: time one ExecuTorch .pte the way `mobilevid bench` does.
 *
 *   mobilevid_runner --model PATH [--warmup N=3] [--runs N=12] [--threads N=0]
 *                    --json OUT
 *
 * Loads the program and its "forward" method with the Program / Method API
 * (the shipped libraries do not export the Module API), fills every input with
 * a fixed pseudo-random pattern of the shape the method declares, runs the
 * warm-up executions untimed, then times each of `runs` executions and writes
 * the results as mobilevid-device-bench/1 JSON (see README.md).
 *
 * Exit codes: 0 ok, 1 a failure after the arguments were read (the JSON then
 * carries "error"), 2 bad arguments. Runtime logs go to stderr (warnings and
 * errors only unless MOBILEVID_RUNNER_VERBOSE is set); stdout gets one summary
 * line at the end.
 */

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/extension/memory_allocator/malloc_memory_allocator.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/hierarchical_allocator.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/runtime/core/portable_type/tensor_impl.h>
#include <executorch/runtime/executor/memory_manager.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/method_meta.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

// The thread pool. A source build of ExecuTorch installs threadpool.h (and the
// pthreadpool.h it includes); the pip wheel ships the library but not the
// header, so declare the two members used here. They are plain non-virtual
// members, so a declaration is all the linker needs.
#if defined(__has_include)
#if __has_include(<executorch/extension/threadpool/threadpool.h>) && \
    __has_include(<pthreadpool.h>)
#define MOBILEVID_HAVE_THREADPOOL_HEADER 1
#endif
#endif
#ifdef MOBILEVID_HAVE_THREADPOOL_HEADER
#include <executorch/extension/threadpool/threadpool.h>
#else
namespace executorch::extension::threadpool {
class ThreadPool final {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
} // namespace executorch::extension::threadpool
#endif

namespace {

namespace et = ::executorch::runtime;
using ::executorch::aten::ScalarType;
using ::executorch::aten::Tensor;
using ::executorch::aten::TensorImpl;
using ::executorch::extension::FileDataLoader;
using ::executorch::extension::MallocMemoryAllocator;
using Clock = std::chrono::steady_clock;

constexpr const char* kFormat = "mobilevid-device-bench/1";
constexpr const char* kMethod = "forward";
constexpr const char* kUsage =
    "usage: mobilevid_runner --model PATH [--warmup N=3] [--runs N=12] "
    "[--threads N=0] [--inputs FILE --outputs FILE] --json OUT";

struct Args {
  std::string model;
  std::string json;
  long warmup = 3;
  long runs = 12;
  long threads = 0;
  // Verification mode: FILE holds k clips (each the raw bytes of every input,
  // concatenated); each is run once and output 0's raw bytes are appended to
  // --outputs. Lets `mobilevid verify --arch arm64` feed the same clips to the
  // .pte under emulation as on the host.
  std::string inputs;
  std::string outputs;
};

struct Report {
  std::string model_stem;
  std::optional<double> load_ms;
  std::vector<double> times_ms;
  std::vector<long> output_shape;
  std::optional<double> checksum;
  std::string error; // empty: no error
};

// A failure after argument parsing: carried to main, written into the JSON.
struct Failure {
  std::string message;
};

[[noreturn]] void fail(const std::string& message) {
  throw Failure{message};
}

std::string et_error(et::Error e) {
  char code[16];
  std::snprintf(code, sizeof(code), "0x%" PRIx32, static_cast<uint32_t>(e));
  return std::string(et::to_string(e)) + " (" + code + ")";
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

// ---------------------------------------------------------------- logging --

bool g_verbose = false;

// Keeps the runtime's log lines off stdout, and its Info/Debug chatter out of
// stderr unless asked for, so the last stderr line of a failed run is ours.
void emit_log(
    et_timestamp_t /*timestamp*/,
    et_pal_log_level_t level,
    const char* filename,
    const char* /*function*/,
    size_t line,
    const char* message,
    size_t length) {
  if (!g_verbose && (level == kDebug || level == kInfo)) {
    return;
  }
  const char* base = filename ? std::strrchr(filename, '/') : nullptr;
  base = base ? base + 1 : (filename ? filename : "?");
  std::fprintf(
      stderr,
      "[executorch %c %s:%zu] %.*s\n",
      static_cast<char>(level),
      base,
      line,
      static_cast<int>(length),
      message);
}

// ---------------------------------------------------------------- arguments --

bool parse_long(const std::string& text, long min_value, long* out) {
  if (text.empty()) {
    return false;
  }
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0' || value < min_value ||
      value > 1000000) {
    return false;
  }
  *out = value;
  return true;
}

// Returns an error message, or an empty string when the arguments are good.
std::string parse_args(int argc, char** argv, Args* args) {
  bool have_model = false;
  bool have_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool inline_value = false;
    const size_t eq = flag.find('=');
    if (flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    if (flag != "--model" && flag != "--json" && flag != "--warmup" &&
        flag != "--runs" && flag != "--threads" && flag != "--inputs" &&
        flag != "--outputs") {
      return "unknown argument '" + std::string(argv[i]) + "'";
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        return flag + " needs a value";
      }
      value = argv[++i];
    }
    if (flag == "--model") {
      if (value.empty()) {
        return "--model needs a path";
      }
      args->model = value;
      have_model = true;
    } else if (flag == "--json") {
      if (value.empty()) {
        return "--json needs a path";
      }
      args->json = value;
      have_json = true;
    } else if (flag == "--inputs") {
      args->inputs = value;
    } else if (flag == "--outputs") {
      args->outputs = value;
    } else if (flag == "--warmup") {
      if (!parse_long(value, 0, &args->warmup)) {
        return "--warmup must be an integer >= 0, got '" + value + "'";
      }
    } else if (flag == "--runs") {
      if (!parse_long(value, 1, &args->runs)) {
        return "--runs must be an integer >= 1, got '" + value + "'";
      }
    } else if (flag == "--threads") {
      if (!parse_long(value, 0, &args->threads)) {
        return "--threads must be an integer >= 0, got '" + value + "'";
      }
    }
  }
  if (!have_model) {
    return "--model is required";
  }
  if (!have_json) {
    return "--json is required";
  }
  if (args->inputs.empty() != args->outputs.empty()) {
    return "--inputs and --outputs go together";
  }
  return "";
}

std::string file_stem(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string ext = ".pte";
  if (name.size() > ext.size() &&
      name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
    name.resize(name.size() - ext.size());
  }
  return name;
}

// -------------------------------------------------------------------- JSON --

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string json_number(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) {
    return "null"; // JSON has no NaN or infinity
  }
  // Shortest text that reads back as the same double.
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), *v);
  return std::string(buf, r.ptr);
}

std::string to_json(const Args& args, const Report& r) {
  std::ostringstream o;
  o << "{\"format\": " << json_string(kFormat)
    << ", \"model\": " << json_string(r.model_stem)
    << ", \"threads\": " << args.threads << ", \"warmup\": " << args.warmup
    << ", \"runs\": " << args.runs
    << ", \"model_load_time_ms\": " << json_number(r.load_ms)
    << ", \"times_ms\": [";
  for (size_t i = 0; i < r.times_ms.size(); ++i) {
    o << (i ? ", " : "") << json_number(r.times_ms[i]);
  }
  o << "], \"output_shape\": [";
  for (size_t i = 0; i < r.output_shape.size(); ++i) {
    o << (i ? ", " : "") << r.output_shape[i];
  }
  o << "], \"output_checksum\": " << json_number(r.checksum) << ", \"error\": "
    << (r.error.empty() ? std::string("null") : json_string(r.error)) << "}\n";
  return o.str();
}

// Writes OUT.tmp, then renames it over OUT, so a reader never sees half a file.
// Returns an error message, or an empty string.
std::string write_json(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    return "cannot write " + tmp + ": " + std::strerror(errno);
  }
  const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed) {
    std::remove(tmp.c_str());
    return "cannot write " + tmp;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return "cannot rename " + tmp + " to " + path + ": " + why;
  }
  return "";
}

// ------------------------------------------------------------------ inputs --

// splitmix64: a fixed, portable stream, so every run and every device sees
// the same input bytes.
struct Pattern {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { // [0, 1)
    return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
  }
  // Irwin-Hall: the sum of four uniforms, centred and scaled to unit
  // variance. Normal-ish, bounded by +-2*sqrt(3).
  float normalish() {
    const double s = uniform() + uniform() + uniform() + uniform();
    return static_cast<float>((s - 2.0) * std::sqrt(3.0));
  }
};

// One input tensor, owning its data and the metadata TensorImpl points at.
struct InputTensor {
  std::vector<et::etensor::TensorImpl::SizesType> sizes;
  std::vector<et::etensor::TensorImpl::DimOrderType> dim_order;
  std::vector<et::etensor::TensorImpl::StridesType> strides;
  std::vector<uint8_t> data;
  std::unique_ptr<TensorImpl> impl;
};

std::string shape_text(const std::vector<int32_t>& sizes) {
  std::string s = "(";
  for (size_t i = 0; i < sizes.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(sizes[i]);
  }
  return s + (sizes.size() == 1 ? ",)" : ")");
}

std::vector<std::unique_ptr<InputTensor>> make_inputs(
    const et::MethodMeta& meta) {
  std::vector<std::unique_ptr<InputTensor>> inputs;
  Pattern pattern{0x6D6F62696C657669ull}; // "mobilevi"
  for (size_t i = 0; i < meta.num_inputs(); ++i) {
    auto tag = meta.input_tag(i);
    if (!tag.ok()) {
      fail("cannot read the tag of input " + std::to_string(i) + ": " +
           et_error(tag.error()));
    }
    if (tag.get() != et::Tag::Tensor) {
      fail(
          "input " + std::to_string(i) +
          " of forward is not a tensor; this runner feeds tensor inputs only");
    }
    auto info = meta.input_tensor_meta(i);
    if (!info.ok()) {
      fail("cannot read the metadata of input " + std::to_string(i) + ": " +
           et_error(info.error()));
    }
    auto in = std::make_unique<InputTensor>();
    const auto sizes = info->sizes();
    const auto order = info->dim_order();
    const size_t dim = sizes.size();
    in->sizes.assign(sizes.begin(), sizes.end());
    in->dim_order.resize(dim);
    for (size_t d = 0; d < dim; ++d) {
      in->dim_order[d] = order.size() == dim
          ? order[d]
          : static_cast<et::etensor::TensorImpl::DimOrderType>(d);
    }
    // Strides follow the dim order: the innermost dimension in memory is the
    // last entry of dim_order.
    in->strides.assign(dim, 1);
    int64_t stride = 1;
    for (size_t k = dim; k-- > 0;) {
      const size_t d = in->dim_order[k];
      if (d >= dim) {
        fail("input " + std::to_string(i) + " has an invalid dim order");
      }
      in->strides[d] = static_cast<int32_t>(stride);
      stride *= std::max<int32_t>(in->sizes[d], 1);
    }
    const size_t nbytes = info->nbytes();
    in->data.assign(nbytes, 0);
    const ScalarType type = info->scalar_type();
    if (type == ScalarType::Float) {
      float* p = reinterpret_cast<float*>(in->data.data());
      for (size_t k = 0; k < nbytes / sizeof(float); ++k) {
        p[k] = pattern.normalish();
      }
    } else {
      // Not expected for a video model; zeros keep the run well defined.
      std::fprintf(
          stderr,
          "mobilevid_runner: input %zu is not float32 (scalar type %d), "
          "feeding zeros\n",
          i,
          static_cast<int>(type));
    }
    in->impl = std::make_unique<TensorImpl>(
        type,
        static_cast<ssize_t>(dim),
        in->sizes.data(),
        in->data.data(),
        in->dim_order.data(),
        in->strides.data());
    inputs.push_back(std::move(in));
  }
  return inputs;
}

// Sets every input again before an execution: a memory-planned input may
// share its buffer with activations, so its contents do not survive a run.
void set_inputs(
    et::Method& method,
    const std::vector<std::unique_ptr<InputTensor>>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const et::Error e =
        method.set_input(et::EValue(Tensor(inputs[i]->impl.get())), i);
    if (e != et::Error::Ok) {
      std::vector<int32_t> sizes(
          inputs[i]->sizes.begin(), inputs[i]->sizes.end());
      fail("set_input " + std::to_string(i) + " " + shape_text(sizes) +
           " failed: " + et_error(e));
    }
  }
}

// ------------------------------------------------------------------ output --

template <typename T>
double sum_as_double(const Tensor& t) {
  const T* p = t.const_data_ptr<T>();
  double s = 0.0;
  for (ssize_t k = 0; k < t.numel(); ++k) {
    s += static_cast<double>(p[k]);
  }
  return s;
}

void read_output(et::Method& method, Report* report) {
  if (method.outputs_size() == 0) {
    fail("forward has no outputs");
  }
  const et::EValue& out = method.get_output(0);
  if (!out.isTensor()) {
    fail("the first output of forward is not a tensor");
  }
  const Tensor t = out.toTensor();
  report->output_shape.clear();
  for (ssize_t d = 0; d < t.dim(); ++d) {
    report->output_shape.push_back(static_cast<long>(t.size(d)));
  }
  switch (t.scalar_type()) {
    case ScalarType::Float:
      report->checksum = sum_as_double<float>(t);
      break;
    case ScalarType::Double:
      report->checksum = sum_as_double<double>(t);
      break;
    case ScalarType::Int:
      report->checksum = sum_as_double<int32_t>(t);
      break;
    case ScalarType::Long:
      report->checksum = sum_as_double<int64_t>(t);
      break;
    case ScalarType::Byte:
      report->checksum = sum_as_double<uint8_t>(t);
      break;
    case ScalarType::Char:
      report->checksum = sum_as_double<int8_t>(t);
      break;
    default:
      report->checksum.reset(); // written as null
  }
}

// --------------------------------------------------------------------- run --

void set_threads(long threads) {
  if (threads <= 0) {
    return; // the runtime's default pool
  }
  auto* pool = ::executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr) {
    fail("the ExecuTorch thread pool is not available");
  }
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
  const bool ok = pool->_unsafe_reset_threadpool(static_cast<uint32_t>(threads));
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
  if (!ok) {
    fail("could not resize the thread pool to " + std::to_string(threads) +
         " threads");
  }
}

size_t pool_threads() {
  auto* pool = ::executorch::extension::threadpool::get_threadpool();
  return pool ? pool->get_thread_count() : 0;
}

// Everything the loaded method points into; kept alive for the whole run.
struct Loaded {
  std::unique_ptr<FileDataLoader> loader;
  std::unique_ptr<et::Program> program;
  std::unique_ptr<MallocMemoryAllocator> method_allocator;
  std::unique_ptr<MallocMemoryAllocator> temp_allocator;
  std::vector<std::vector<uint8_t>> planned_buffers;
  std::vector<et::Span<uint8_t>> planned_spans;
  std::unique_ptr<et::HierarchicalAllocator> planned_memory;
  std::unique_ptr<et::MemoryManager> memory_manager;
  std::unique_ptr<et::Method> method;
};

void check_backends(const et::MethodMeta& meta) {
  for (size_t i = 0; i < meta.num_backends(); ++i) {
    auto name = meta.get_backend_name(i);
    if (name.ok() && et::get_backend_class(name.get()) == nullptr) {
      std::string have;
      for (size_t k = 0; k < et::get_num_registered_backends(); ++k) {
        auto b = et::get_backend_name(k);
        if (b.ok()) {
          have += (have.empty() ? "" : ", ") + std::string(b.get());
        }
      }
      fail(std::string("the model needs the ") + name.get() +
           " backend, which is not linked into this runner (registered: " +
           (have.empty() ? "none" : have) + ")");
    }
  }
}

void load(const Args& args, Loaded* l) {
  auto loader = FileDataLoader::from(args.model.c_str());
  if (!loader.ok()) {
    fail("cannot open " + args.model + ": " + et_error(loader.error()));
  }
  l->loader = std::make_unique<FileDataLoader>(std::move(loader.get()));

  auto program = et::Program::load(l->loader.get());
  if (!program.ok()) {
    fail(args.model + " is not a loadable ExecuTorch program: " +
         et_error(program.error()));
  }
  l->program = std::make_unique<et::Program>(std::move(program.get()));

  auto meta = l->program->method_meta(kMethod);
  if (!meta.ok()) {
    fail(args.model + " has no method '" + kMethod +
         "': " + et_error(meta.error()));
  }
  check_backends(meta.get());

  // Planned buffers, sized from the method's metadata.
  const size_t n = meta->num_memory_planned_buffers();
  l->planned_buffers.reserve(n);
  l->planned_spans.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto size = meta->memory_planned_buffer_size(i);
    if (!size.ok()) {
      fail("cannot read planned buffer " + std::to_string(i) + ": " +
           et_error(size.error()));
    }
    l->planned_buffers.emplace_back(static_cast<size_t>(size.get()));
    l->planned_spans.emplace_back(
        l->planned_buffers.back().data(), l->planned_buffers.back().size());
  }
  l->planned_memory = std::make_unique<et::HierarchicalAllocator>(
      et::Span<et::Span<uint8_t>>(l->planned_spans.data(), n));
  l->method_allocator = std::make_unique<MallocMemoryAllocator>();
  l->temp_allocator = std::make_unique<MallocMemoryAllocator>();
  l->memory_manager = std::make_unique<et::MemoryManager>(
      l->method_allocator.get(),
      l->planned_memory.get(),
      l->temp_allocator.get());

  auto method = l->program->load_method(kMethod, l->memory_manager.get());
  if (!method.ok()) {
    fail("loading method '" + std::string(kMethod) +
         "' failed: " + et_error(method.error()));
  }
  l->method = std::make_unique<et::Method>(std::move(method.get()));
}

void execute(et::Method& method, const char* what, long index) {
  const et::Error e = method.execute();
  if (e != et::Error::Ok) {
    fail(std::string(what) + " " + std::to_string(index + 1) +
         " failed: " + et_error(e));
  }
}

// Output 0's raw bytes, appended to an open file.
void append_output(et::Method& method, FILE* f, const std::string& path) {
  const et::EValue& out = method.get_output(0);
  if (!out.isTensor()) {
    fail("the first output of forward is not a tensor");
  }
  const Tensor t = out.toTensor();
  if (std::fwrite(t.const_data_ptr(), 1, t.nbytes(), f) != t.nbytes()) {
    fail("cannot write --outputs " + path);
  }
}

// Runs every clip of --inputs once, in order, and writes each output.
void run_clips(
    const Args& args,
    et::Method& method,
    const std::vector<std::unique_ptr<InputTensor>>& inputs,
    Report* report) {
  size_t clip_bytes = 0;
  for (const auto& in : inputs) {
    clip_bytes += in->data.size();
  }
  FILE* in = std::fopen(args.inputs.c_str(), "rb");
  if (in == nullptr) {
    fail("cannot open --inputs " + args.inputs);
  }
  std::fseek(in, 0, SEEK_END);
  const long size = std::ftell(in);
  std::fseek(in, 0, SEEK_SET);
  if (size <= 0 || clip_bytes == 0 || static_cast<size_t>(size) % clip_bytes != 0) {
    std::fclose(in);
    fail("--inputs " + args.inputs + " holds " + std::to_string(size) +
         " bytes, not a whole number of clips of " + std::to_string(clip_bytes) +
         " bytes");
  }
  FILE* out = std::fopen(args.outputs.c_str(), "wb");
  if (out == nullptr) {
    std::fclose(in);
    fail("cannot write --outputs " + args.outputs);
  }
  const size_t clips = static_cast<size_t>(size) / clip_bytes;
  try {
    for (size_t c = 0; c < clips; ++c) {
      for (const auto& t : inputs) {
        if (std::fread(t->data.data(), 1, t->data.size(), in) != t->data.size()) {
          fail("cannot read clip " + std::to_string(c + 1) + " of --inputs");
        }
      }
      set_inputs(method, inputs);
      const auto start = Clock::now();
      execute(method, "clip", static_cast<long>(c));
      report->times_ms.push_back(ms_since(start));
      append_output(method, out, args.outputs);
    }
  } catch (...) {
    std::fclose(in);
    std::fclose(out);
    throw;
  }
  std::fclose(in);
  if (std::fclose(out) != 0) {
    fail("cannot write --outputs " + args.outputs);
  }
  read_output(method, report);
}

void bench(const Args& args, Report* report) {
  set_threads(args.threads);

  Loaded l;
  const auto load_start = Clock::now();
  load(args, &l);
  report->load_ms = ms_since(load_start);

  auto meta = l.program->method_meta(kMethod);
  if (!meta.ok()) {
    fail("cannot read the metadata of forward: " + et_error(meta.error()));
  }
  const auto inputs = make_inputs(meta.get());
  et::Method& method = *l.method;
  if (!args.inputs.empty()) {
    run_clips(args, method, inputs, report);
    return;
  }

  for (long i = 0; i < args.warmup; ++i) {
    set_inputs(method, inputs);
    execute(method, "warm-up run", i);
  }
  report->times_ms.reserve(static_cast<size_t>(args.runs));
  for (long i = 0; i < args.runs; ++i) {
    set_inputs(method, inputs);
    const auto start = Clock::now();
    execute(method, "timed run", i);
    report->times_ms.push_back(ms_since(start));
  }
  read_output(method, report);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("%s\n", kUsage);
      return 0;
    }
  }
  Args args;
  const std::string bad = parse_args(argc, argv, &args);
  if (!bad.empty()) {
    std::fprintf(stderr, "mobilevid_runner: %s (%s)\n", bad.c_str(), kUsage);
    return 2;
  }

  const char* verbose = std::getenv("MOBILEVID_RUNNER_VERBOSE");
  g_verbose = verbose != nullptr && *verbose != '\0' && *verbose != '0';
  et::register_pal(et::PalImpl::create(emit_log, __FILE__));
  et::runtime_init();

  Report report;
  report.model_stem = file_stem(args.model);
  try {
    bench(args, &report);
  } catch (const Failure& f) {
    report.error = f.message;
  } catch (const std::exception& e) {
    report.error = std::string("unexpected error: ") + e.what();
  }
  if (!report.error.empty()) {
    report.times_ms.clear();
  }

  const std::string write_error = write_json(args.json, to_json(args, report));
  if (!report.error.empty()) {
    if (!write_error.empty()) {
      std::fprintf(stderr, "mobilevid_runner: %s\n", write_error.c_str());
    }
    std::fprintf(stderr, "mobilevid_runner: %s\n", report.error.c_str());
    return 1;
  }
  if (!write_error.empty()) {
    std::fprintf(stderr, "mobilevid_runner: %s\n", write_error.c_str());
    return 1;
  }
  std::printf(
      "%s: load %.1f ms, median %.2f ms over %zu %s (%zu threads), "
      "output [%s] checksum %s -> %s\n",
      report.model_stem.c_str(),
      report.load_ms.value_or(0.0),
      median(report.times_ms),
      report.times_ms.size(),
      args.inputs.empty() ? "runs" : "clips",
      pool_threads(),
      [&] {
        std::string s;
        for (size_t i = 0; i < report.output_shape.size(); ++i) {
          s += (i ? ", " : "") + std::to_string(report.output_shape[i]);
        }
        return s;
      }()
          .c_str(),
      json_number(report.checksum).c_str(),
      args.json.c_str());
  return 0;
}
