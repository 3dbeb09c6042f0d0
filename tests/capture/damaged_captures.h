// Damaged copies of a good capture, each with the words its one-line refusal must hold: cut short,
// one bit flipped in a dataset's data or in a group's metadata, an HDF5 file that is not a
// capture, a file that is not HDF5, and a capture from a newer attnscope. Shared by the tests of
// every reader (report, diff, export-trace, the GUI, load_capture itself).
#pragma once
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "capture/capture.h"

namespace attnscope::damage {

struct Damaged {
  std::string name;    // "truncated", "flipped_data", ...
  std::string path;
  std::string expect;  // what the error line says about the object (beside the file's name)
};

inline std::vector<char> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void spit(const std::string& path, const std::vector<char>& b) {
  std::ofstream(path, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
}

// File offset of the first chunk of dataset `name` (captures chunk every dataset).
inline haddr_t chunk_address(const std::string& file, const std::string& name) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  hsize_t offset[8] = {0};
  unsigned mask = 0;
  haddr_t addr = HADDR_UNDEF;
  hsize_t size = 0;
  H5Dget_chunk_info(d, s, 0, offset, &mask, &addr, &size);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  return addr + size / 2;
}

// File offset of the object header of `name`.
inline haddr_t header_address(const std::string& file, const std::string& name) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5O_info_t info;
  H5Oget_info_by_name(f, name.c_str(), &info, H5P_DEFAULT);
  H5Fclose(f);
  return info.addr;
}

// `good`: a capture with a run labelled "eager". Writes the damaged copies into `dir`.
inline std::vector<Damaged> make_damaged(const std::string& good, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::vector<char> bytes = slurp(good);
  std::vector<Damaged> out;
  auto add = [&](const std::string& name, const std::vector<char>& b, const std::string& expect) {
    const std::string p = dir + "/" + name + ".h5";
    spit(p, b);
    out.push_back({name, p, expect});
  };
  add("truncated", std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)),
      "truncated file: eof = " + std::to_string(bytes.size() / 2));
  add("truncated_by_one", std::vector<char>(bytes.begin(), bytes.end() - 1), "truncated file");
  std::vector<char> b = bytes;
  b[chunk_address(good, "/runs/eager/out")] ^= 0x10;
  add("flipped_data", b, "runs/eager/out: read failed (data error detected by Fletcher32 checksum)");
  b = bytes;
  b[header_address(good, "/runs/eager") + 8] ^= 0x01;
  add("flipped_metadata", b, "checksum");
  {
    const std::string p = dir + "/foreign.h5";
    hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 4;
    hid_t s = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_FLOAT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
    out.push_back({"foreign", p, "not an attnscope capture (no format_version attribute)"});
  }
  add("not_hdf5", std::vector<char>(bytes.begin() + 1024, bytes.begin() + 4096), "not an HDF5 file");
  {
    const std::string p = dir + "/newer.h5";
    std::filesystem::copy_file(good, p, std::filesystem::copy_options::overwrite_existing);
    hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    const long long v = Capture::kFormatVersion + 1;  // one past what this build writes, whatever that is
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Fclose(f);
    out.push_back({"newer", p,
                   "capture format_version " + std::to_string(v) + " is not supported (this attnscope reads versions " +
                       std::to_string(Capture::kOldestReadable) + " to " + std::to_string(Capture::kFormatVersion) +
                       "; the file is from a newer attnscope)"});
  }
  return out;
}

}  // namespace attnscope::damage
