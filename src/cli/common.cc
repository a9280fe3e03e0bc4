#include "common.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "jsnap/file_util.h"

namespace jsnap::cli {

void AddGlobalOptions(CLI::App& app, GlobalOptions& g) {
  app.add_option("-r,--repo", g.repo, "Repository directory (default: $JSNAP_REPOSITORY)")
      ->envname("JSNAP_REPOSITORY");
  app.add_option("-p,--password-file", g.password_file,
                 "Read the password from this file (default: $JSNAP_PASSWORD_FILE)");
  app.add_flag("-q,--quiet", g.quiet, "Print only errors and the result");
  app.add_flag("--json", g.json, "Machine-readable JSON output");
  app.add_option("--wait-lock", g.wait_lock,
                 "How long to wait for a locked repository (e.g. 30s, 10m; default 0: fail at once)");
}

int ExitCodeFor(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk: return kExitOk;
    case Status::Code::kNoRepository: return kExitNoRepository;
    case Status::Code::kLocked: return kExitLocked;
    case Status::Code::kWrongPassword: return kExitWrongPassword;
    default: return kExitFatal;
  }
}

int Fail(const Status& st) {
  std::fprintf(stderr, "jsnap: %s\n", st.message().c_str());
  return ExitCodeFor(st);
}

namespace {

std::string FirstLine(std::string text) {
  size_t nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

Result<std::string> PasswordFromFile(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status().WithContext("cannot read the password file");
  return FirstLine(text.value());
}

Result<std::string> PasswordFromCommand(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return Status::IOError("cannot run $JSNAP_PASSWORD_COMMAND");
  std::string out;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) {
    return Status::InvalidArgument("$JSNAP_PASSWORD_COMMAND failed (status " + std::to_string(rc) + ")");
  }
  return FirstLine(out);
}

Result<std::string> Prompt(const std::string& prompt) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr || !::isatty(::fileno(tty))) {
    if (tty != nullptr) std::fclose(tty);
    return Status::InvalidArgument(
        "no password given: use --password-file FILE, or set JSNAP_PASSWORD_FILE, "
        "JSNAP_PASSWORD_COMMAND or JSNAP_PASSWORD");
  }
  std::fprintf(tty, "%s", prompt.c_str());
  std::fflush(tty);
  struct termios old, noecho;
  ::tcgetattr(::fileno(tty), &old);
  noecho = old;
  noecho.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(::fileno(tty), TCSAFLUSH, &noecho);
  char buf[1024];
  const bool ok = std::fgets(buf, sizeof(buf), tty) != nullptr;
  ::tcsetattr(::fileno(tty), TCSAFLUSH, &old);
  std::fprintf(tty, "\n");
  std::fclose(tty);
  if (!ok) return Status::InvalidArgument("no password entered");
  return FirstLine(buf);
}

}  // namespace

Result<std::string> ReadPassword(const GlobalOptions& g, const std::string& prompt) {
  if (!g.password_file.empty()) return PasswordFromFile(g.password_file);
  if (const char* f = std::getenv("JSNAP_PASSWORD_FILE"); f && *f) return PasswordFromFile(f);
  if (const char* c = std::getenv("JSNAP_PASSWORD_COMMAND"); c && *c) return PasswordFromCommand(c);
  if (const char* p = std::getenv("JSNAP_PASSWORD"); p && *p) return std::string(p);
  return Prompt(prompt);
}

Result<std::string> ReadNewPassword(const GlobalOptions* g, const std::string& file) {
  std::string pw;
  if (!file.empty()) {
    ASSIGN_OR_RETURN(pw, PasswordFromFile(file));
  } else if (g != nullptr &&
             (!g->password_file.empty() || std::getenv("JSNAP_PASSWORD_FILE") ||
              std::getenv("JSNAP_PASSWORD_COMMAND") || std::getenv("JSNAP_PASSWORD"))) {
    ASSIGN_OR_RETURN(pw, ReadPassword(*g, ""));
  } else {
    ASSIGN_OR_RETURN(pw, Prompt("enter new password: "));
    ASSIGN_OR_RETURN(std::string again, Prompt("enter the password again: "));
    if (pw != again) return Status::InvalidArgument("the passwords do not match");
  }
  if (pw.empty()) return Status::InvalidArgument("an empty password is not allowed");
  return pw;
}

Result<std::string> RepoPath(const GlobalOptions& g) {
  if (g.repo.empty()) {
    return Status::InvalidArgument("no repository given: use --repo PATH or set JSNAP_REPOSITORY");
  }
  return g.repo;
}

Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  const std::string unit = end;
  double ms;
  if (unit.empty() || unit == "s") ms = v * 1000;
  else if (unit == "ms") ms = v;
  else if (unit == "m") ms = v * 60000;
  else if (unit == "h") ms = v * 3600000;
  else return Status::InvalidArgument("duration '" + text + "' is not like 500ms, 30s, 10m or 2h");
  if (v < 0) return Status::InvalidArgument("negative duration '" + text + "'");
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

Result<std::unique_ptr<Repository>> OpenRepo(const GlobalOptions& g, LockMode lock, bool writable,
                                             const std::string& what, bool rebuild_index) {
  ASSIGN_OR_RETURN(std::string path, RepoPath(g));
  ASSIGN_OR_RETURN(std::string password, ReadPassword(g, "enter password for repository: "));
  OpenOptions o;
  o.lock = lock;
  o.writable = writable;
  o.rebuild_index = rebuild_index;
  o.description = what;
  o.compression_level = g.compression;
  ASSIGN_OR_RETURN(o.wait_lock, ParseDuration(g.wait_lock));
  return Repository::Open(path, password, o);
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

std::string FormatDuration(double seconds) {
  int s = static_cast<int>(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof(buf), "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof(buf), "%d:%02d", s / 60, s % 60);
  return buf;
}

nlohmann::json JsonString(const std::string& bytes) {
  // Round-trip through dump with replacement: keeps valid UTF-8 as is.
  return nlohmann::json::parse(
      nlohmann::json(bytes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void PrintJson(const nlohmann::json& j) {
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

ProgressLine::ProgressLine(const GlobalOptions& g, std::function<std::string(double)> render)
    : render_(std::move(render)), start_(std::chrono::steady_clock::now()) {
  if (g.quiet || g.json || !::isatty(STDERR_FILENO)) return;
  thread_ = std::thread([this] {
    while (!stop_) {
      for (int i = 0; i < 5 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (stop_) break;
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      std::lock_guard<std::mutex> lock(mu_);
      std::fprintf(stderr, "\r\033[K%s", render_(elapsed).c_str());
      std::fflush(stderr);
    }
  });
}

ProgressLine::~ProgressLine() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

void ProgressLine::Message(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  std::fprintf(stderr, "%s%s\n", thread_.joinable() ? "\r\033[K" : "", text.c_str());
}

}  // namespace jsnap::cli
