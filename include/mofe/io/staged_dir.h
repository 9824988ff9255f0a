// Writing a directory aside and publishing it by one rename, so that a failure, a signal or a
// kill leaves either the previous contents or the complete new ones, never a mix a reader
// would take (merge, import, export, preprocess all write this way).
//   StagedDir out(final_dir, token);  // writers fill out.path() = <final_dir>.tmp-<token>/
//   ...
//   out.publish();                    // the staging directory becomes <final_dir>
// publish() swaps it with the old directory in one renameat2(RENAME_EXCHANGE) (or renames it
// into place when there is none), then removes the old one. Destroyed unpublished, the staging
// directory is removed. Several ranks may write into one staging directory: they agree on the
// token (make_staging_token on rank 0, broadcast), and only the `owner` creates, publishes and
// removes it. Staging directories left by killed writers of this host are removed by the next
// writer of the same directory.
#pragma once

#include <string>
#include <vector>

namespace mofe::io {

// "<host>.<pid>.<random>": unique to this writer.
std::string make_staging_token();

class StagedDir {
 public:
  StagedDir(std::string final_dir, const std::string& token, bool owner = true);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  const std::string& path() const { return staging_; }
  const std::string& final_path() const { return final_; }
  void publish();

 private:
  std::string final_, staging_;
  bool owner_, published_ = false;
};

// Refuses (UsageError) an output directory that is, contains or lies inside one of the inputs
// (files or directories), naming both: a writer must never delete or overwrite what it reads.
void check_output_apart(const std::string& out, const std::vector<std::string>& inputs,
                        const std::string& option);

}  // namespace mofe::io
