// The HDF5 store: bit-exact round trip of every field in every dtype, the intermediates budget,
// atomic writes, and refusal (never a crash) of damaged or foreign files.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <random>
#include <atomic>
#include <thread>

#include "capture/store.h"
#include "store_fixture.h"

namespace attnscope {
namespace {

namespace fs = std::filesystem;
using testing::expect_same_run;
using testing::full_capture;
using testing::same_bits;
using testing::scratch_dir;

void expect_same_capture(const Capture& a, const Capture& b) {
  EXPECT_EQ(b.format_version, Capture::kFormatVersion);
  EXPECT_EQ(a.spec.name, b.spec.name);
  EXPECT_EQ(a.spec.source, b.spec.source);
  EXPECT_EQ(a.spec.batch, b.spec.batch);
  EXPECT_EQ(a.spec.seq_q, b.spec.seq_q);
  EXPECT_EQ(a.spec.seq_k, b.spec.seq_k);
  EXPECT_EQ(a.spec.heads_q, b.spec.heads_q);
  EXPECT_EQ(a.spec.heads_kv, b.spec.heads_kv);
  EXPECT_EQ(a.spec.head_dim, b.spec.head_dim);
  EXPECT_EQ(a.spec.head_dim_v, b.spec.head_dim_v);
  EXPECT_EQ(a.spec.dtype, b.spec.dtype);
  EXPECT_EQ(a.spec.scale, b.spec.scale);
  EXPECT_EQ(a.spec.causal, b.spec.causal);
  EXPECT_EQ(a.spec.sinks, b.spec.sinks);
  EXPECT_EQ(a.spec.softmax_dtype, b.spec.softmax_dtype);
  EXPECT_EQ(a.env.attnscope_version, b.env.attnscope_version);
  EXPECT_EQ(a.env.created, b.env.created);
  EXPECT_EQ(a.env.host, b.env.host);
  EXPECT_EQ(a.env.os, b.env.os);
  EXPECT_EQ(a.env.cpu, b.env.cpu);
  EXPECT_EQ(a.env.backend, b.env.backend);
  EXPECT_EQ(a.env.device, b.env.device);
  EXPECT_EQ(a.env.gpu_backend_status, b.env.gpu_backend_status);
  EXPECT_EQ(a.env.command_line, b.env.command_line);
  EXPECT_EQ(a.env.seed, b.env.seed);
  EXPECT_EQ(a.env.distribution, b.env.distribution);
  testing::expect_same_gpu_environment(a.env.gpu, b.env.gpu);
  EXPECT_TRUE(same_bits(a.inputs.q, b.inputs.q));
  EXPECT_TRUE(same_bits(a.inputs.k, b.inputs.k));
  EXPECT_TRUE(same_bits(a.inputs.v, b.inputs.v));
  EXPECT_TRUE(same_bits(a.inputs.mask, b.inputs.mask));
  EXPECT_TRUE(same_bits(a.inputs.dout, b.inputs.dout));
  EXPECT_EQ(a.gradient_baseline, b.gradient_baseline);
  ASSERT_EQ(a.inputs.sinks.size(), b.inputs.sinks.size());
  for (size_t i = 0; i < a.inputs.sinks.size(); ++i) EXPECT_EQ(f32_bits(a.inputs.sinks[i]), f32_bits(b.inputs.sinks[i]));
  EXPECT_EQ(a.inputs.origin, b.inputs.origin);
  EXPECT_EQ(a.acceptance_baseline, b.acceptance_baseline);
  expect_same_run(a.reference, b.reference);
  ASSERT_EQ(a.runs.size(), b.runs.size());
  for (size_t i = 0; i < a.runs.size(); ++i) expect_same_run(a.runs[i], b.runs[i]);
}

class StoreRoundTrip : public ::testing::TestWithParam<DType> {};

TEST_P(StoreRoundTrip, EveryFieldBitExact) {
  Capture c = full_capture(GetParam());
  std::string dir = scratch_dir(std::string("roundtrip_") + dtype_name(GetParam()));
  std::string path = dir + "/cap.h5";
  ASSERT_EQ(save_capture(c, path), "");
  Capture back;
  LoadStatus st = load_capture(path, &back);
  ASSERT_TRUE(st.ok()) << st.message;
  expect_same_capture(c, back);
  // Readable by others as any file the user writes (mkstemp's 0600 is not kept).
  auto perms = fs::status(path).permissions();
  EXPECT_NE(perms & fs::perms::owner_read, fs::perms::none);
  mode_t um = umask(0);
  umask(um);
  if (!(um & S_IROTH)) {
    EXPECT_NE(perms & fs::perms::others_read, fs::perms::none);
  }
  // Nothing but the capture itself is left in the folder (the temporary file was renamed).
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) { ++files; EXPECT_EQ(e.path().filename(), "cap.h5"); }
  EXPECT_EQ(files, 1);
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, StoreRoundTrip, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Store, FileTypesAreWhatOtherToolsExpect) {
  Capture c = full_capture(DType::BF16);
  c.runs[1].out = testing::filled(DType::F16, c.runs[1].out.shape, 5);
  std::string path = scratch_dir("types") + "/cap.h5";
  ASSERT_EQ(save_capture(c, path), "");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  auto check = [&](const char* name, H5T_class_t cls, size_t size, const char* dtype_attr) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ASSERT_GE(d, 0) << name;
    hid_t t = H5Dget_type(d);
    EXPECT_EQ(H5Tget_class(t), cls) << name;
    EXPECT_EQ(H5Tget_size(t), size) << name;
    hid_t a = H5Aopen(d, "dtype", H5P_DEFAULT);
    ASSERT_GE(a, 0) << name;
    hid_t at = H5Aget_type(a);
    ASSERT_EQ(H5Tget_class(at), H5T_STRING);
    std::string s(H5Tget_size(at), '\0');
    ASSERT_GE(H5Aread(a, at, s.data()), 0);
    EXPECT_STREQ(s.c_str(), dtype_attr) << name;
    H5Tclose(at);
    H5Aclose(a);
    H5Tclose(t);
    H5Dclose(d);
  };
  check("/inputs/q", H5T_INTEGER, 2, "bfloat16");
  check("/runs/eager/lse", H5T_FLOAT, 4, "float32");
  check("/runs/flash2 (what-if)/out", H5T_FLOAT, 2, "float16");
  check("/runs/outside%2Frun 100%25/out", H5T_INTEGER, 2, "bfloat16");
  // The half type is IEEE binary16: 5 exponent bits with bias 15, 10 mantissa bits.
  hid_t d = H5Dopen2(f, "/runs/flash2 (what-if)/out", H5P_DEFAULT);
  hid_t t = H5Dget_type(d);
  size_t spos, epos, esize, mpos, msize;
  H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize);
  EXPECT_EQ(spos, 15u);
  EXPECT_EQ(epos, 10u);
  EXPECT_EQ(esize, 5u);
  EXPECT_EQ(msize, 10u);
  EXPECT_EQ(H5Tget_ebias(t), 15u);
  H5Tclose(t);
  H5Dclose(d);
  int64_t version = 0;
  hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_INT64, &version);
  H5Aclose(a);
  EXPECT_EQ(version, Capture::kFormatVersion);
  H5Fclose(f);
}

TEST(Store, OverBudgetKeepsRowsAndOverview) {
  Capture c = full_capture(DType::BF16);
  c.spec.seq_q = 40;
  c.spec.seq_k = 1100;  // > 512: the overview pools 3 keys into one
  const LayerSpec& s = c.spec;
  c.inputs.q = testing::filled(s.dtype, {s.batch, s.heads_q, s.seq_q, s.head_dim}, 1);
  c.inputs.k = testing::filled(s.dtype, {s.batch, s.heads_kv, s.seq_k, s.head_dim}, 2);
  c.inputs.v = testing::filled(s.dtype, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, 3);
  c.inputs.mask = testing::filled(DType::F32, {s.batch, 1, s.seq_q, s.seq_k}, 4);
  c.inputs.dout = testing::filled(s.dtype, {s.batch, s.heads_q, s.seq_q, s.head_dim_v}, 5);
  c.reference = testing::full_run(s, "reference", 10, false);
  c.runs = {testing::full_run(s, "eager", 20, true)};
  c.runs[0].probe = ProbeData{};
  c.runs[0].probe.where = {true, 0, 1, 5, 9};  // the probe's rows are the ones kept
  c.runs[0].scores.data[(0 * s.seq_q + 7) * s.seq_k + 1000] = 1e30f;  // a spike the overview must show
  std::string path = scratch_dir("budget") + "/cap.h5";
  StoreOptions opt;
  // Whole S (fp32) + P (bf16) would take 2*4*40*1100*(4+2) = 2.1 MB; the overviews take
  // 2*4*40*367*4*2 = 0.94 MB and each row of both maps 2*4*1100*6 = 52.8 kB: 5 rows fit.
  opt.intermediate_budget = 2 * 940000;
  ASSERT_EQ(save_capture(c, path, opt), "");
  Capture back;
  LoadStatus st = load_capture(path, &back);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_TRUE(back.runs[0].scores.empty());
  EXPECT_TRUE(back.runs[0].probs.empty());
  EXPECT_TRUE(same_bits(back.runs[0].out, c.runs[0].out));
  StoredIntermediates si;
  st = load_intermediates(path, "eager", &si);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(si.storage, "rows");
  EXPECT_EQ(si.rows_source, "probe");
  EXPECT_EQ(si.rows, (std::vector<int64_t>{5, 6, 7, 8}));
  ASSERT_EQ(si.scores.shape, (std::vector<int64_t>{s.batch, s.heads_q, 4, s.seq_k}));
  EXPECT_EQ(si.scores.dtype, DType::F32);
  EXPECT_EQ(si.probs.dtype, DType::BF16);
  for (int64_t bh = 0; bh < s.batch * s.heads_q; ++bh)
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t j = 0; j < s.seq_k; ++j) {
        float want = c.runs[0].probs.data[(bh * s.seq_q + si.rows[r]) * s.seq_k + j];
        float got = si.probs.data[(bh * 4 + r) * s.seq_k + j];
        ASSERT_EQ(f32_bits(want), f32_bits(got));
      }
  EXPECT_EQ(si.pool_q, 1);
  EXPECT_EQ(si.pool_k, 3);
  ASSERT_EQ(si.scores_overview.shape, (std::vector<int64_t>{s.batch, s.heads_q, 40, 367}));
  EXPECT_EQ(si.scores_overview.data[7 * 367 + 1000 / 3], 1e30f);
  // Whole maps within the budget; a run without maps says "none".
  ASSERT_EQ(save_capture(c, path), "");
  ASSERT_TRUE(load_intermediates(path, "eager", &si).ok());
  EXPECT_EQ(si.storage, "whole");
  EXPECT_TRUE(same_bits(si.probs, c.runs[0].probs));
  ASSERT_TRUE(load_intermediates(path, "reference", &si).ok());
  EXPECT_EQ(si.storage, "none");
  EXPECT_FALSE(load_intermediates(path, "no such run", &si).ok());
}

TEST(Store, FailedSaveLeavesNoFileAndKeepsTheOldOne) {
  std::string dir = scratch_dir("atomic");
  std::string path = dir + "/cap.h5";
  Capture good = full_capture(DType::F16);
  ASSERT_EQ(save_capture(good, path), "");
  auto size_before = fs::file_size(path);
  Capture bad = full_capture(DType::F16);
  bad.runs[2].out.shape = {1, 2, 3};  // does not match the layer: refused mid-write
  bad.runs[2].out.data.resize(6);
  std::string err = save_capture(bad, path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("out"), std::string::npos) << err;
  EXPECT_EQ(fs::file_size(path), size_before);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) { (void)e; ++files; }
  EXPECT_EQ(files, 1);  // no temporary file left behind
  Capture back;
  EXPECT_TRUE(load_capture(path, &back).ok());
  // Two runs with one label cannot both be stored.
  bad = full_capture(DType::F16);
  bad.runs[1].label = "eager";
  EXPECT_NE(save_capture(bad, dir + "/dup.h5"), "");
  EXPECT_FALSE(fs::exists(dir + "/dup.h5"));
  // A folder that does not exist.
  EXPECT_NE(save_capture(good, dir + "/missing/cap.h5"), "");
}

TEST(Store, LoadsFromSeveralThreadsAtOnce) {
  // The GUI loads off its UI thread while the CLI side may save: both go through one lock.
  std::string dir = scratch_dir("threads");
  Capture c = full_capture(DType::F16);
  ASSERT_EQ(save_capture(c, dir + "/cap.h5"), "");
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        Capture back;
        if (load_capture(dir + "/cap.h5", &back).ok() && back.runs.size() == c.runs.size()) ++ok;
        if (save_capture(c, dir + "/t" + std::to_string(t) + ".h5").empty()) ++ok;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 40);
}

// ---- damaged and foreign files ----

std::string saved(const std::string& name) {
  std::string path = scratch_dir(name) + "/cap.h5";
  EXPECT_EQ(save_capture(full_capture(DType::BF16), path), "");
  return path;
}

LoadStatus load(const std::string& path) {
  Capture c;
  return load_capture(path, &c);
}

TEST(StoreRefuses, MissingForeignAndTruncatedFiles) {
  std::string dir = scratch_dir("refuse_files");
  LoadStatus st = load(dir + "/nothing.h5");
  EXPECT_EQ(st.code, LoadError::NotFound);
  EXPECT_NE(st.message.find("nothing.h5"), std::string::npos);
  { std::ofstream(dir + "/text.h5") << "not hdf5 at all\n"; }
  st = load(dir + "/text.h5");
  EXPECT_EQ(st.code, LoadError::NotHdf5);
  EXPECT_NE(st.message.find("text.h5"), std::string::npos);

  std::string path = saved("refuse_truncated");
  auto size = fs::file_size(path);
  for (double frac : {0.999, 0.9, 0.5, 0.1, 0.01}) {
    std::string t = dir + "/trunc.h5";
    fs::copy_file(path, t, fs::copy_options::overwrite_existing);
    fs::resize_file(t, static_cast<uintmax_t>(size * frac));
    st = load(t);
    EXPECT_FALSE(st.ok()) << frac;
    EXPECT_NE(st.message.find("trunc.h5"), std::string::npos) << st.message;
  }
  // A valid HDF5 file that is not a capture.
  hid_t f = H5Fcreate((dir + "/other.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  st = load(dir + "/other.h5");
  EXPECT_EQ(st.code, LoadError::Malformed);
  EXPECT_NE(st.message.find("format_version"), std::string::npos) << st.message;
}

// Opens a saved capture read-write for surgery.
template <typename F>
LoadStatus after(const std::string& name, F edit) {
  std::string path = saved(name);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  EXPECT_GE(f, 0);
  edit(f);
  H5Fclose(f);
  return load(path);
}

void set_version(hid_t f, int64_t v) {
  H5Adelete(f, "format_version");
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, "format_version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  H5Sclose(sp);
}

void replace_dataset(hid_t f, const char* name, hid_t type, std::vector<hsize_t> dims) {
  H5Ldelete(f, name, H5P_DEFAULT);
  hid_t sp = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(d);
  H5Sclose(sp);
}

TEST(Store, VersionOneCapturesWithoutGradientsStillOpen) {
  // The committed H100 capture predates gradients (format_version 1).
  Capture c;
  LoadStatus st = load_capture(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/fixtures/gpu_gptoss_256.h5", &c);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(c.format_version, 1);
  EXPECT_TRUE(c.inputs.dout.empty());
  EXPECT_TRUE(c.gradient_baseline.empty());
  ASSERT_FALSE(c.runs.empty());
  for (const RunResult& r : c.runs) {
    EXPECT_TRUE(r.grad.empty()) << r.label;
    EXPECT_FALSE(r.grad.ran) << r.label;
  }
  // Written again, it is a version 2 file with the same runs.
  std::string path = scratch_dir("v1_resave") + "/cap.h5";
  ASSERT_EQ(save_capture(c, path), "");
  Capture back;
  ASSERT_TRUE(load_capture(path, &back).ok());
  EXPECT_EQ(back.format_version, Capture::kFormatVersion);
  EXPECT_EQ(back.runs.size(), c.runs.size());
}

TEST(StoreRefuses, GradientsOfTheWrongShape) {
  Capture c = full_capture(DType::BF16);
  c.runs[0].grad.dk = testing::filled(DType::BF16, {2, 4, 20, 8}, 3);  // Hq heads, not Hkv
  std::string path = scratch_dir("refuse_grad_shape") + "/cap.h5";
  std::string e = save_capture(c, path);
  EXPECT_NE(e.find("runs/eager/dk: shape [2, 4, 20, 8], expected [2, 2, 20, 8]"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(path));
}

TEST(StoreRefuses, UnknownFormatVersion) {
  LoadStatus st = after("refuse_version", [](hid_t f) { set_version(f, 99); });
  EXPECT_EQ(st.code, LoadError::UnsupportedVersion);
  EXPECT_NE(st.message.find("cap.h5"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("99"), std::string::npos) << st.message;
  st = after("refuse_version0", [](hid_t f) { set_version(f, 0); });
  EXPECT_EQ(st.code, LoadError::UnsupportedVersion);
  st = after("refuse_version_str", [](hid_t f) {
    H5Adelete(f, "format_version");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 3);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format_version", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, "one");
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
  });
  EXPECT_EQ(st.code, LoadError::Malformed);
}

TEST(StoreRefuses, MissingDatasetsGroupsAndAttributes) {
  for (const char* victim : {"/inputs/q", "/inputs/v", "/runs/eager/out", "/runs/eager/spans", "/runs/eager/kernels",
                             "/runs/eager/dq", "/inputs/do", "/runs/eager/backward/spans", "/runs/eager/backward/times_ms",
                             "/runs/eager/verdict", "/runs/eager/probe/p", "/runs/eager/probe", "/reference", "/runs",
                             "/env", "/inputs", "/runs/eager/ranges", "/runs/eager/times_untraced_ms"}) {
    LoadStatus st = after("refuse_missing", [&](hid_t f) { EXPECT_GE(H5Ldelete(f, victim, H5P_DEFAULT), 0) << victim; });
    EXPECT_EQ(st.code, LoadError::Malformed) << victim;
    std::string leaf = std::string(victim).substr(std::string(victim).rfind('/') + 1);
    EXPECT_NE(st.message.find(leaf), std::string::npos) << victim << ": " << st.message;
  }
  for (const char* attr : {"spec", "acceptance_baseline"}) {
    LoadStatus st = after("refuse_attr", [&](hid_t f) { H5Adelete(f, attr); });
    EXPECT_EQ(st.code, LoadError::Malformed) << attr;
  }
  LoadStatus st = after("refuse_run_attr", [](hid_t f) { H5Adelete_by_name(f, "/runs/eager", "label", H5P_DEFAULT); });
  EXPECT_EQ(st.code, LoadError::Malformed);
}

TEST(StoreRefuses, WrongShapesAndTypes) {
  struct Case { const char* name; hid_t type; std::vector<hsize_t> dims; };
  std::vector<Case> cases = {
      {"/runs/eager/out", H5T_IEEE_F32LE, {2, 4, 12, 9}},    // head dim off by one
      {"/runs/eager/out", H5T_IEEE_F32LE, {2, 4, 12}},       // rank
      {"/runs/eager/lse", H5T_IEEE_F32LE, {2, 4, 13}},
      {"/runs/eager/scores", H5T_IEEE_F32LE, {2, 4, 12, 19}},
      {"/inputs/k", H5T_IEEE_F32LE, {2, 4, 20, 8}},          // heads_q instead of heads_kv
      {"/inputs/sinks", H5T_IEEE_F32LE, {3}},
      {"/inputs/mask", H5T_IEEE_F32LE, {3, 4, 12, 20}},
      {"/runs/eager/out", H5T_STD_I32LE, {2, 4, 12, 8}},     // integer tensor without dtype
      {"/runs/eager/out", H5T_IEEE_F64LE, {2, 4, 12, 8}},
      {"/runs/eager/probe/p", H5T_IEEE_F32LE, {2, 20}},
      {"/runs/eager/probe/tile_used", H5T_STD_U8LE, {4}},
      {"/runs/eager/times_ms", H5T_IEEE_F64LE, {2, 2}},
      {"/runs/eager/spans", H5T_IEEE_F64LE, {2}},            // not a compound
  };
  for (const Case& c : cases) {
    LoadStatus st = after("refuse_shape", [&](hid_t f) { replace_dataset(f, c.name, c.type, c.dims); });
    EXPECT_EQ(st.code, LoadError::Malformed) << c.name;
    std::string leaf = std::string(c.name).substr(std::string(c.name).rfind('/') + 1);
    EXPECT_NE(st.message.find(leaf), std::string::npos) << c.name << ": " << st.message;
  }
  // A huge declared shape is refused before anything is allocated.
  LoadStatus st = after("refuse_huge", [](hid_t f) {
    H5Ldelete(f, "/runs/eager/out", H5P_DEFAULT);
    hsize_t dims[4] = {1u << 20, 1u << 20, 1u << 20, 8};
    hsize_t chunk[4] = {1, 1, 1, 8};
    hid_t sp = H5Screate_simple(4, dims, nullptr);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 4, chunk);
    hid_t d = H5Dcreate2(f, "/runs/eager/out", H5T_IEEE_F32LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
  });
  EXPECT_EQ(st.code, LoadError::Malformed);
  // A compound dataset missing a field.
  st = after("refuse_compound", [](hid_t f) {
    H5Ldelete(f, "/runs/eager/memory", H5P_DEFAULT);
    hid_t t = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(t, "t_us", 0, H5T_IEEE_F64LE);
    hsize_t n = 2;
    hid_t sp = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(f, "/runs/eager/memory", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    double v[2] = {1, 2};
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
  });
  EXPECT_EQ(st.code, LoadError::Malformed);
  EXPECT_NE(st.message.find("memory"), std::string::npos) << st.message;
}

TEST(StoreRefuses, CorruptedBytesNeverCrash) {
  // Flip bytes all over a valid file: every load returns (ok or an error), none crashes or hangs.
  std::string path = saved("refuse_flip");
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string t = fs::path(path).parent_path() / "flip.h5";
  // ATTNSCOPE_FUZZ_ROUNDS / ATTNSCOPE_FUZZ_SEED run a longer or different sweep by hand.
  const char* env_rounds = std::getenv("ATTNSCOPE_FUZZ_ROUNDS");
  const char* env_seed = std::getenv("ATTNSCOPE_FUZZ_SEED");
  const int rounds = env_rounds ? std::atoi(env_rounds) : 400;
  std::mt19937 rng(env_seed ? static_cast<unsigned>(std::atoi(env_seed)) : 7u);
  int refused = 0;
  for (int round = 0; round < rounds; ++round) {
    std::vector<char> b = bytes;
    for (int k = 0, n = 1 + round % 8; k < n; ++k) b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
    {
      std::ofstream out(t, std::ios::binary | std::ios::trunc);
      out.write(b.data(), static_cast<std::streamsize>(b.size()));
    }
    LoadStatus st = load(t);
    if (!st.ok()) {
      ++refused;
      EXPECT_NE(st.message.find("flip.h5"), std::string::npos) << st.message;
    }
  }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace attnscope
