// The CPU implementations behind the registry names.
#include <map>
#include <memory>

#include "kernels/cpu/fused.h"
#include "kernels/sdpa_dispatch.h"

namespace attnscope {

namespace {

class EagerCpu final : public Implementation {
 public:
  std::string name() const override { return "eager"; }
  Verdict check(const LayerSpec& s, const DeviceInfo& d) const override { return check_eager(s, d); }
  RunResult run(const LayerSpec& s, const Inputs& in, const RunOptions& o) const override {
    return cpu::run_eager(s, in, o, "eager");
  }
};

class Flash2Cpu final : public Implementation {
 public:
  std::string name() const override { return "flash2"; }
  Verdict check(const LayerSpec& s, const DeviceInfo& d) const override { return check_flash2(s, d); }
  RunResult run(const LayerSpec& s, const Inputs& in, const RunOptions& o) const override {
    return cpu::run_fused(s, in, o, "flash2", {});
  }
};

class SinkCpu final : public Implementation {
 public:
  std::string name() const override { return "sink"; }
  Verdict check(const LayerSpec& s, const DeviceInfo& d) const override { return check_sink(s, d); }
  RunResult run(const LayerSpec& s, const Inputs& in, const RunOptions& o) const override {
    return cpu::run_fused(s, in, o, "sink", {.sinks = s.sinks, .explicit_mask = false});
  }
};

// SDPA: the dispatcher picks a backend (check_sdpa records why the others were skipped), then
// runs its CPU version: flash -> the FA2 emulation, efficient -> the fused emulation with the
// attn_mask, math -> torch's math backend (fp32 throughout, output rounded).
class SdpaCpu final : public Implementation {
 public:
  explicit SdpaCpu(std::string forced) : forced_(std::move(forced)) {}
  std::string name() const override { return forced_.empty() ? "sdpa" : "sdpa:" + forced_; }
  Verdict check(const LayerSpec& s, const DeviceInfo& d) const override {
    std::string chosen;
    Verdict v = check_sdpa(s, d, forced_, &chosen);
    if (chosen == "cudnn") refuse_cudnn_on_cpu(v);
    return v;
  }
  RunResult run(const LayerSpec& s, const Inputs& in, const RunOptions& o) const override {
    std::string chosen;
    check_sdpa(s, cpu_device(), forced_, &chosen);
    RunResult r;
    if (chosen == "flash") {
      r = cpu::run_fused(s, in, o, name(), {});
    } else if (chosen == "efficient") {
      r = cpu::run_fused(s, in, o, name(), {.sinks = false, .explicit_mask = true});
    } else if (chosen == "math") {
      r = cpu::run_math(s, in, o, name());
    } else {
      r = cpu::start_result(name(), s);
      r.error = "sdpa:" + chosen + " has no CPU version";
      return r;
    }
    r.sdpa_backend = chosen;
    r.model_bytes = model_bytes("sdpa:" + chosen, s);
    if (!r.grad.empty()) r.grad.model_bytes = r.grad.peak_bytes = model_bytes_backward("sdpa:" + chosen, s);
    return r;
  }

 private:
  std::string forced_;
};

}  // namespace

const std::vector<std::string>& implementation_names() {
  static const std::vector<std::string> names = {"eager", "sdpa", "flash2", "sink"};
  return names;
}

const Implementation* cpu_implementation(const std::string& name) {
  static const std::map<std::string, std::shared_ptr<Implementation>> table = [] {
    std::map<std::string, std::shared_ptr<Implementation>> t;
    t["eager"] = std::make_shared<EagerCpu>();
    t["flash2"] = std::make_shared<Flash2Cpu>();
    t["sink"] = std::make_shared<SinkCpu>();
    t["sdpa"] = std::make_shared<SdpaCpu>("");
    for (const char* b : {"flash", "efficient", "math", "cudnn"})
      t[std::string("sdpa:") + b] = std::make_shared<SdpaCpu>(b);
    return t;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second.get();
}

}  // namespace attnscope
