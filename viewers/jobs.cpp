#include "viewers/jobs.h"

#include <algorithm>

#include "capture/session.h"
#include "capture/store.h"
#include "capture/tensor_io.h"
#include "viewers/model.h"

namespace attnscope {

void Jobs::stop() {
  if (!job_) return;
  cancel();
  if (job_->thread.joinable()) job_->thread.join();
  job_.reset();
}

Job& Jobs::begin(std::string what, std::string stage, bool supersedable) {
  job_ = std::make_unique<Job>();
  job_->what = std::move(what);
  job_->stage = std::move(stage);
  job_->supersedable = supersedable;
  return *job_;
}

void Jobs::poll(Model& m) {
  if (!job_) return;
  std::shared_ptr<const Capture> partial;
  {
    std::lock_guard<std::mutex> lock(job_->mu);
    partial = std::move(job_->partial);
  }
  if (partial && !job_->done) {
    m.show_partial(std::move(partial), !job_->partial_shown);
    job_->partial_shown = true;
  }
  if (!job_->done) return;
  if (job_->thread.joinable()) job_->thread.join();
  std::function<void(Model&)> f;
  {
    std::lock_guard<std::mutex> lock(job_->mu);
    f = std::move(job_->finish);
  }
  job_.reset();
  if (f) f(m);
}

namespace {

// Before a new load or run: the start-up run gives way (cancelling a CPU run stops it within a
// row; a GPU run's worker is ended); any other job in flight refuses, with a message.
bool make_room(Model& m) {
  if (!m.jobs.busy()) return true;
  if (!m.jobs.current()->supersedable) {
    m.add_error("busy: " + m.jobs.current()->what + " is still running");
    return false;
  }
  m.jobs.stop();
  m.info.clear();
  return true;
}

// A run's options from the document: implementations, what-if, the verdict GPU, the probe.
SessionOptions session_options(const Model& m) {
  SessionOptions opt;
  opt.impls = m.doc.selected_impls();
  opt.what_if = m.doc.what_if;
  opt.force_cpu = m.doc.force_cpu;
  if (!m.settings.verdict_gpu.empty()) {
    if (auto d = named_gpu(m.settings.verdict_gpu)) {
      opt.verdict_device = *d;
      opt.verdict_device_named = true;
    }
  }
  if (m.doc.probe) {
    opt.probe = m.doc.probe_spec;
    opt.probe.enabled = true;
  }
  return opt;
}

// Progress, cancel and results so far, shared between a run and its job.
void connect(SessionOptions& opt, Job* j) {
  opt.cancel = &j->cancel;
  opt.progress = [j](const std::string& stage, double f) {
    j->progress = std::clamp(f, 0.0, 1.0);
    std::lock_guard<std::mutex> lock(j->mu);
    j->stage = stage;
  };
  opt.partial = [j](const Capture& so_far) {
    // A copy for the panels; eager's S and P stay with the run until it ends (up to 2 GiB: the
    // maps rebuild P from the LSE meanwhile, as for the fused kernels).
    auto snap = std::make_shared<Capture>(so_far);
    for (RunResult* r : {&snap->reference}) r->scores = r->probs = Tensor();
    for (RunResult& r : snap->runs) r.scores = r.probs = Tensor();
    std::lock_guard<std::mutex> lock(j->mu);
    j->partial = std::move(snap);
  };
}

}  // namespace

bool start_load(Model& m, const std::string& path) {
  if (!make_room(m)) return false;
  Job* j = &m.jobs.begin("loading " + path, "reading");
  j->thread = std::thread([j, path] {
    auto c = std::make_shared<Capture>();
    LoadStatus st = load_capture(path, c.get());
    std::lock_guard<std::mutex> lock(j->mu);
    if (!st.ok()) {
      std::string msg = st.message.empty() ? path + ": cannot be loaded" : st.message;
      j->finish = [msg](Model& m) { m.add_error(msg); };
    } else {
      j->finish = [c, path](Model& m) {
        m.set_capture(c, path);
        m.info = "opened " + path;
      };
    }
    j->progress = 1.0;
    j->done = true;
  });
  return true;
}

bool start_run(Model& m, bool at_start) {
  if (!make_room(m)) return false;
  if (std::string e = m.doc.spec.validate(); !e.empty()) {
    m.add_error("layer: " + e);
    return false;
  }
  Job* j = &m.jobs.begin("running " + m.doc.spec.summary(), "preparing inputs", at_start);
  SessionOptions opt = session_options(m);
  connect(opt, j);
  LayerSpec s = m.doc.spec;
  uint64_t sd = m.doc.seed;
  Distribution di = m.doc.dist;
  std::string inputs = m.doc.inputs_path;
  j->thread = std::thread([j, s, sd, di, inputs, opt] {
    auto c = std::make_shared<Capture>();
    std::string err;
    Inputs in;
    if (!inputs.empty())
      err = load_inputs(inputs, Layout::BHND, s, &in);
    else
      in = random_inputs(s, sd, di);
    if (err.empty()) err = run_session(s, std::move(in), opt, c.get());
    bool cancelled = j->cancel.load();
    std::lock_guard<std::mutex> lock(j->mu);
    if (!err.empty() || cancelled) {
      std::string msg = cancelled ? std::string("run cancelled") : "run: " + err;
      j->finish = [msg, cancelled](Model& m) {
        if (cancelled)
          m.info = msg;
        else
          m.add_error(msg);
      };
    } else {
      j->finish = [c](Model& m) {
        m.set_capture(c, "");
        m.info = "run finished: " + std::to_string(c->runs.size()) + " runs";
      };
    }
    j->progress = 1.0;
    j->done = true;
  });
  return true;
}

bool start_save(Model& m, const std::string& path) {
  if (!m.doc.cap) {
    m.add_error("save: no capture is open");
    return false;
  }
  if (m.jobs.busy()) {
    m.add_error("busy: " + m.jobs.current()->what + " is still running");
    return false;
  }
  Job* j = &m.jobs.begin("saving " + path, "writing");
  std::shared_ptr<const Capture> c = m.doc.cap;
  j->thread = std::thread([j, c, path] {
    std::string err = save_capture(*c, path);
    std::lock_guard<std::mutex> lock(j->mu);
    j->finish = [err, path](Model& m) {
      if (!err.empty()) {
        m.add_error(err);
        return;
      }
      m.doc.cap_path = path;
      m.settings.add_recent(path);
      m.save_settings_now();
      m.info = "saved " + path;
    };
    j->progress = 1.0;
    j->done = true;
  });
  return true;
}

}  // namespace attnscope
