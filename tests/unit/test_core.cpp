// core/: the one write-aside-and-rename helper every small writer uses.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "mofe/core/atomic_file.h"
#include "mofe/core/error.h"

using namespace mofe;
namespace fs = std::filesystem;

namespace {
std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
// Anything but PATH itself left in its directory (a temporary that was not cleaned up).
int strays(const fs::path& dir, const fs::path& keep) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path() != keep;
  return n;
}
}  // namespace

TEST(AtomicFile, ReplacesWholeAndLeavesNoTemporary) {
  const fs::path dir = fs::temp_directory_path() / ("mofe-atomic-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path p = dir / "out.json";
  core::write_file_atomic(p, std::string("old\n"));
  EXPECT_EQ(read_all(p), "old\n");
  core::write_file_atomic(p, [](std::ostream& o) { o << "new" << ' ' << 1 << "\n"; });
  EXPECT_EQ(read_all(p), "new 1\n");
  EXPECT_EQ(strays(dir, p), 0);

  // The writer fails half-way: PATH keeps the old content, no temporary stays.
  EXPECT_THROW(core::write_file_atomic(p,
                                       [](std::ostream& o) {
                                         o << "half";
                                         throw std::runtime_error("writer failed");
                                       }),
               std::runtime_error);
  EXPECT_EQ(read_all(p), "new 1\n");
  EXPECT_EQ(strays(dir, p), 0);

  // A directory that does not exist: IoError naming the file, nothing created.
  try {
    core::write_file_atomic(dir / "missing" / "x.json", std::string("x"));
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing/x.json"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "missing"));
  fs::remove_all(dir);
}
