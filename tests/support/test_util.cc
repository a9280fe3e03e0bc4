#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace jsnap::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/jsnap-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() { RemoveAll(path_); }

void RemoveAll(const std::string& path) {
  // Restore permissions first so that read-only test trees can be removed.
  RunCommand({"chmod", "-R", "u+rwx", path});
  RunCommand({"rm", "-rf", path});
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  const std::string* input) {
  char out_tmpl[] = "/tmp/jsnap-out-XXXXXX";
  char err_tmpl[] = "/tmp/jsnap-err-XXXXXX";
  int out_fd = ::mkstemp(out_tmpl), err_fd = ::mkstemp(err_tmpl);
  int in_fd = -1;
  std::string in_path;
  if (input != nullptr) {
    char in_tmpl[] = "/tmp/jsnap-in-XXXXXX";
    in_fd = ::mkstemp(in_tmpl);
    in_path = in_tmpl;
    WriteFile(in_path, *input);
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    int in = in_fd >= 0 ? ::open(in_path.c_str(), O_RDONLY) : ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::setsid();  // no controlling terminal: password prompts fail fast
    for (const std::string& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_tmpl);
  r.err = ReadFile(err_tmpl);
  ::close(out_fd);
  ::close(err_fd);
  ::unlink(out_tmpl);
  ::unlink(err_tmpl);
  if (in_fd >= 0) {
    ::close(in_fd);
    ::unlink(in_path.c_str());
  }
  return r;
}

std::string JsnapBinary() { return JSNAP_BINARY; }

int Spawn(const std::vector<std::string>& argv, const std::string& err_path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(err_path.empty() ? null : ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
    ::setsid();
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int WaitFor(int pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

CommandResult Jsnap(const std::string& repo, const std::string& password_file,
                    std::vector<std::string> args) {
  std::vector<std::string> argv = {JsnapBinary(), "-r", repo, "--password-file", password_file};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {"JSNAP_PASSWORD=", "JSNAP_PASSWORD_FILE=", "JSNAP_PASSWORD_COMMAND="});
}

namespace {

std::string HashFd(int fd) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
    crypto_generichash_update(&st, reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n));
  }
  uint8_t out[32];
  crypto_generichash_final(&st, out, sizeof(out));
  std::string hex;
  char b[3];
  for (uint8_t c : out) {
    std::snprintf(b, sizeof(b), "%02x", c);
    hex += b;
  }
  return hex;
}

std::map<std::string, std::string> Xattrs(int fd) {
  std::map<std::string, std::string> out;
  char names[4096];
  ssize_t len = ::flistxattr(fd, names, sizeof(names));
  for (ssize_t pos = 0; pos < len;) {
    std::string name(names + pos);
    pos += static_cast<ssize_t>(name.size()) + 1;
    char value[4096];
    ssize_t vl = ::fgetxattr(fd, name.c_str(), value, sizeof(value));
    if (vl >= 0) out[name] = std::string(value, static_cast<size_t>(vl));
  }
  return out;
}

// Relative to open directories throughout, so paths longer than PATH_MAX
// are described too.
void Walk(int dirfd, const std::string& rel, bool dir_mtimes, std::map<std::string, EntryInfo>* out,
          std::map<std::pair<dev_t, ino_t>, std::string>* inodes) {
  int dup_fd = ::dup(dirfd);
  DIR* d = ::fdopendir(dup_fd);
  if (d == nullptr) {
    ADD_FAILURE() << "cannot list " << rel;
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string r = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ADD_FAILURE() << "cannot stat " << r;
      continue;
    }
    EntryInfo e;
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    int fd = -1;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) ADD_FAILURE() << "cannot open " << r;
      else e.xattrs = Xattrs(fd);
    }
    if (S_ISREG(st.st_mode)) {
      e.type = 'f';
      e.size = static_cast<uint64_t>(st.st_size);
      e.content_hash = fd >= 0 ? HashFd(fd) : "unreadable";
      e.data_blocks = static_cast<uint64_t>(st.st_blocks);
      if (st.st_nlink > 1) {
        auto [it, inserted] = inodes->emplace(std::make_pair(st.st_dev, st.st_ino), r);
        e.hardlink_group = it->second;
      }
    } else if (S_ISDIR(st.st_mode)) {
      e.type = 'd';
      if (!dir_mtimes) e.mtime_ns = 0;
    } else if (S_ISLNK(st.st_mode)) {
      e.type = 'l';
      char buf[8192];
      ssize_t n = ::readlinkat(dirfd, name.c_str(), buf, sizeof(buf));
      e.link_target = std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
      e.mode = 0;  // symlink modes are not meaningful on Linux
    } else if (S_ISFIFO(st.st_mode)) {
      e.type = 'p';
    } else if (S_ISSOCK(st.st_mode)) {
      e.type = 's';
    } else {
      e.type = S_ISCHR(st.st_mode) ? 'c' : 'b';
    }
    (*out)[r] = e;
    if (S_ISDIR(st.st_mode) && fd >= 0) Walk(fd, r, dir_mtimes, out, inodes);
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace

std::map<std::string, EntryInfo> DescribeTree(const std::string& root, bool dir_mtimes) {
  std::map<std::string, EntryInfo> out;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes;
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "cannot open " << root;
    return out;
  }
  Walk(fd, "", dir_mtimes, &out, &inodes);
  ::close(fd);
  return out;
}

std::string DiffTrees(const std::map<std::string, EntryInfo>& a, const std::map<std::string, EntryInfo>& b,
                      bool compare_blocks) {
  std::ostringstream diff;
  for (const auto& [path, ea] : a) {
    auto it = b.find(path);
    if (it == b.end()) {
      diff << "missing in second: " << path << "\n";
      continue;
    }
    EntryInfo x = ea, y = it->second;
    if (!compare_blocks) x.data_blocks = y.data_blocks = 0;
    if (x == y) continue;
    diff << "differs: " << path << " (type " << x.type << "/" << y.type << ", mode " << std::oct
         << x.mode << "/" << y.mode << std::dec << ", uid " << x.uid << "/" << y.uid << ", gid "
         << x.gid << "/" << y.gid << ", size "
         << x.size << "/" << y.size << ", mtime " << x.mtime_ns << "/" << y.mtime_ns << ", hash "
         << x.content_hash.substr(0, 8) << "/" << y.content_hash.substr(0, 8) << ", link '"
         << x.link_target << "'/'" << y.link_target << "', group '" << x.hardlink_group << "'/'"
         << y.hardlink_group << "', blocks " << x.data_blocks << "/" << y.data_blocks
         << ", xattrs " << x.xattrs.size() << "/" << y.xattrs.size() << ")\n";
  }
  for (const auto& [path, eb] : b) {
    if (a.find(path) == a.end()) diff << "extra in second: " << path << "\n";
  }
  return diff.str();
}

}  // namespace jsnap::test
