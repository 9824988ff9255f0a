// Files a reader sees whole or not at all: every small writer (results, manifests, metrics,
// safetensors, checkpoint pointers) writes PATH.tmp-<pid> beside PATH, flushes and fsyncs it,
// renames it over PATH (atomic within a file system) and fsyncs the directory, so that after
// a crash or a power loss PATH is the old content or the new one, never a mix.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace mofe::core {

// body writes the content; an I/O error (disk full, permission) removes the temporary and
// throws IoError naming PATH, leaving PATH as it was.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& body);
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

// fsync a file or directory: "written" must mean on disk, not in this node's page cache.
// A path that cannot be opened is skipped (some file systems refuse directories).
void sync_path(const std::filesystem::path& p);

}  // namespace mofe::core
