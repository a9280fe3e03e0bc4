// Exclude patterns, gitignore style, matched against absolute paths:
// - `*` and `?` and `[...]` match within one path component, `**` matches
//   any number of components;
// - a pattern starting with '/' is anchored at the file system root; any
//   other pattern matches at any depth ("*.log", "cache/tmp");
// - a trailing '/' matches directories only;
// - a leading '!' re-includes what an earlier pattern excluded (the last
//   matching pattern wins); '#' starts a comment line in exclude files.
#pragma once

#include <string>
#include <vector>

#include "jsnap/status.h"

namespace jsnap {

class ExcludeMatcher {
 public:
  void Add(const std::string& pattern);
  Status AddFile(const std::string& path);
  bool Excluded(const std::string& abs_path, bool is_dir) const;
  bool empty() const { return rules_.empty(); }
  std::vector<std::string> Patterns() const;

 private:
  struct Rule {
    std::string text;
    std::vector<std::string> parts;
    bool negate = false;
    bool dir_only = false;
  };
  std::vector<Rule> rules_;
};

}  // namespace jsnap
