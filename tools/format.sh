#!/usr/bin/env bash
# Format every C++ source with the repository's .clang-format (clang-format 14 on Debian 12).
cd "$(dirname "$0")/.." && git ls-files '*.h' '*.cpp' | xargs clang-format -i
