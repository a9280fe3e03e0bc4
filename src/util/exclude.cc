#include "jsnap/exclude.h"

#include <fnmatch.h>

#include <sstream>

#include "jsnap/file_util.h"

namespace jsnap {

namespace {

std::vector<std::string> SplitPath(const std::string& p) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : p) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) parts.push_back(std::move(cur));
  return parts;
}

bool MatchParts(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& path,
                size_t xi) {
  if (pi == pat.size()) return xi == path.size();
  if (pat[pi] == "**") {
    for (size_t k = xi; k <= path.size(); ++k) {
      if (MatchParts(pat, pi + 1, path, k)) return true;
    }
    return false;
  }
  if (xi == path.size()) return false;
  if (fnmatch(pat[pi].c_str(), path[xi].c_str(), 0) != 0) return false;
  return MatchParts(pat, pi + 1, path, xi + 1);
}

}  // namespace

void ExcludeMatcher::Add(const std::string& pattern) {
  if (pattern.empty()) return;
  Rule r;
  r.text = pattern;
  std::string p = pattern;
  if (p[0] == '!') {
    r.negate = true;
    p = p.substr(1);
  }
  if (!p.empty() && p.back() == '/') {
    r.dir_only = true;
    p.pop_back();
  }
  const bool anchored = !p.empty() && p[0] == '/';
  r.parts = SplitPath(p);
  if (r.parts.empty()) return;
  if (!anchored) r.parts.insert(r.parts.begin(), "**");
  rules_.push_back(std::move(r));
}

Status ExcludeMatcher::AddFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Add(line);
  }
  return Status::Ok();
}

bool ExcludeMatcher::Excluded(const std::string& abs_path, bool is_dir) const {
  if (rules_.empty()) return false;
  const std::vector<std::string> parts = SplitPath(abs_path);
  bool excluded = false;
  for (const Rule& r : rules_) {
    if (r.dir_only && !is_dir) continue;
    if (MatchParts(r.parts, 0, parts, 0)) excluded = !r.negate;
  }
  return excluded;
}

std::vector<std::string> ExcludeMatcher::Patterns() const {
  std::vector<std::string> out;
  for (const Rule& r : rules_) out.push_back(r.text);
  return out;
}

}  // namespace jsnap
