// What every jsnap command shares: global options, password sources,
// opening the repository, exit codes, byte formatting and progress lines.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "jsnap/repository.h"

namespace jsnap::cli {

// Documented in README.md ("Exit codes"); the same numbers as restic's.
enum ExitCode {
  kExitOk = 0,
  kExitFatal = 1,
  kExitPartial = 3,  // snapshot written, but some sources could not be read
  kExitNoRepository = 10,
  kExitLocked = 11,
  kExitWrongPassword = 12,
};

struct GlobalOptions {
  std::string repo;
  std::string password_file;
  bool quiet = false;
  bool json = false;
  std::string wait_lock = "0";
  int compression = 3;
};

void AddGlobalOptions(CLI::App& app, GlobalOptions& g);

// Prints "jsnap: <message>" on stderr and returns the exit code for it.
int Fail(const Status& st);
int ExitCodeFor(const Status& st);

// The repository password: --password-file, $JSNAP_PASSWORD_FILE,
// $JSNAP_PASSWORD_COMMAND, $JSNAP_PASSWORD, or a prompt on the terminal.
Result<std::string> ReadPassword(const GlobalOptions& g, const std::string& prompt);
// A new password: from `file` if given, else (when `g` is given: init) the
// sources of ReadPassword, else a terminal prompt that asks twice.
Result<std::string> ReadNewPassword(const GlobalOptions* g, const std::string& file);
Result<std::string> RepoPath(const GlobalOptions& g);
Result<std::unique_ptr<Repository>> OpenRepo(const GlobalOptions& g, LockMode lock, bool writable,
                                             const std::string& what, bool rebuild_index = false);
Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

std::string FormatBytes(uint64_t bytes);
std::string FormatDuration(double seconds);
// JSON string for arbitrary bytes (invalid UTF-8 replaced by U+FFFD).
nlohmann::json JsonString(const std::string& bytes);
void PrintJson(const nlohmann::json& j);

// A status line on stderr, redrawn every 250 ms while a long command runs,
// only when stderr is a terminal and --quiet is not given.
class ProgressLine {
 public:
  ProgressLine(const GlobalOptions& g, std::function<std::string(double elapsed)> render);
  ~ProgressLine();  // clears the line
  bool active() const { return thread_.joinable(); }
  // Prints a message without tearing the line.
  void Message(const std::string& text);

 private:
  std::function<std::string(double)> render_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::thread thread_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace jsnap::cli
