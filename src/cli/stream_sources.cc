#include "stream_sources.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace jsnap::cli {

namespace {

Result<size_t> ReadFd(int fd, char* buf, size_t cap, const std::string& what) {
  for (;;) {
    ssize_t n = ::read(fd, buf, cap);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return Status::FromErrno(errno, "read " + what);
  }
}

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

}  // namespace

StreamSource StdinSource(const std::string& name) {
  StreamSource s;
  s.name = name;
  s.read = [](char* buf, size_t cap) { return ReadFd(STDIN_FILENO, buf, cap, "standard input"); };
  return s;
}

Result<StreamSource> CommandSource(const std::string& name, const std::vector<std::string>& argv) {
  if (argv.empty()) {
    return Status::InvalidArgument("--stdin-from-command needs a command after '--' (e.g. -- pg_dump mydb)");
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  const pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  // Owns the pipe and the process; shared by the read and finish callbacks.
  struct Child {
    int fd = -1;
    pid_t pid = -1;
    ~Child() {
      if (fd >= 0) ::close(fd);
      if (pid > 0) {  // not reaped by finish(): the snapshot failed early
        ::kill(pid, SIGTERM);
        ::waitpid(pid, nullptr, 0);
      }
    }
  };
  auto child = std::make_shared<Child>();
  child->fd = fds[0];
  child->pid = pid;
  const std::string cmd = Join(argv);
  StreamSource s;
  s.name = name;
  s.read = [child, cmd](char* buf, size_t cap) { return ReadFd(child->fd, buf, cap, "output of '" + cmd + "'"); };
  s.finish = [child, cmd]() -> Status {
    int status = 0;
    ::waitpid(child->pid, &status, 0);
    child->pid = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
    const std::string how = WIFEXITED(status)
                                ? (WEXITSTATUS(status) == 127 ? "could not be run (exit status 127)"
                                                              : "exited with status " + std::to_string(WEXITSTATUS(status)))
                                : "was killed by signal " + std::to_string(WTERMSIG(status));
    return Status::Aborted("command '" + cmd + "' " + how + "; its output is not a complete backup");
  };
  return s;
}

}  // namespace jsnap::cli
