#include <sys/stat.h>
#include <unistd.h>

#include <iostream>

#include "commands.h"
#include "jsnap/restorer.h"

namespace jsnap::cli {

namespace {

std::string ModeString(const Node& n) {
  std::string s = "-";
  switch (n.type) {
    case NodeType::kDir: s = "d"; break;
    case NodeType::kSymlink: s = "l"; break;
    case NodeType::kFifo: s = "p"; break;
    case NodeType::kSocket: s = "s"; break;
    case NodeType::kCharDevice: s = "c"; break;
    case NodeType::kBlockDevice: s = "b"; break;
    default: break;
  }
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (n.mode & (0400 >> i)) ? rwx[i] : '-';
  return s;
}

nlohmann::json NodeJson(const std::string& path, const Node& n) {
  nlohmann::json j = {{"path", JsonString(path)},
                      {"name", JsonString(n.name)},
                      {"type", NodeTypeName(n.type)},
                      {"mode", n.mode},
                      {"uid", n.uid},
                      {"gid", n.gid},
                      {"user", JsonString(n.user)},
                      {"group", JsonString(n.group)},
                      {"size", n.size},
                      {"mtime", FormatLocalTime(n.mtime_ns)},
                      {"mtime_ns", n.mtime_ns}};
  if (n.type == NodeType::kSymlink) j["link_target"] = JsonString(n.link_target);
  return j;
}

}  // namespace

void RegisterLs(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("ls", "List the files in a snapshot");
  struct Opts {
    std::string snapshot;
    std::string path = "/";
    bool long_format = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("snapshot", o->snapshot, "Snapshot id, unique prefix, or 'latest'")->required();
  cmd->add_option("path", o->path, "List only below this path in the snapshot");
  cmd->add_flag("-l,--long", o->long_format, "Show mode, owner, size and time");
  cmd->callback([&g, o, exit_code] {
    auto repo = OpenRepo(g, LockMode::kShared, false, "ls");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    auto snap = (*repo)->FindSnapshot(o->snapshot);
    if (!snap.ok()) return void(*exit_code = Fail(snap.status()));
    std::string base = o->path;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    auto start = FindNode(**repo, snap->snapshot.tree, base);
    if (!start.ok()) return void(*exit_code = Fail(start.status()));
    auto print = [&](const std::string& path, const Node& n) -> Result<bool> {
      if (g.json) {
        PrintJson(NodeJson(path, n));
      } else if (o->long_format) {
        std::printf("%s %8s %8s %12llu %s %s%s\n", ModeString(n).c_str(),
                    (n.user.empty() ? std::to_string(n.uid) : n.user).c_str(),
                    (n.group.empty() ? std::to_string(n.gid) : n.group).c_str(),
                    (unsigned long long)n.size, FormatLocalTime(n.mtime_ns).c_str(), path.c_str(),
                    n.type == NodeType::kSymlink ? (" -> " + n.link_target).c_str() : "");
      } else {
        std::printf("%s\n", path.c_str());
      }
      return true;
    };
    Status st;
    if (start->type == NodeType::kDir) {
      st = WalkTree(**repo, start->subtree, base == "/" ? "" : base, print);
    } else {
      st = print(base, start.value()).status();
    }
    if (!st.ok()) *exit_code = Fail(st);
  });
}

void RegisterDump(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("dump", "Write one file of a snapshot to standard output");
  struct Opts {
    std::string snapshot;
    std::string file;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("snapshot", o->snapshot, "Snapshot id, unique prefix, or 'latest'")->required();
  cmd->add_option("file", o->file, "Absolute path of the file in the snapshot")->required();
  cmd->callback([&g, o, exit_code] {
    auto repo = OpenRepo(g, LockMode::kShared, false, "dump");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    auto snap = (*repo)->FindSnapshot(o->snapshot);
    if (!snap.ok()) return void(*exit_code = Fail(snap.status()));
    auto node = FindNode(**repo, snap->snapshot.tree, o->file);
    if (!node.ok()) return void(*exit_code = Fail(node.status()));
    if (node->type != NodeType::kFile) {
      return void(*exit_code = Fail(Status::InvalidArgument(
                      o->file + " is a " + NodeTypeName(node->type) + ", not a file; use 'jsnap restore --include'")));
    }
    for (const Id& id : node->content) {
      auto data = (*repo)->LoadBlob(id);
      if (!data.ok()) return void(*exit_code = Fail(data.status().WithContext("dump " + o->file)));
      if (std::fwrite(data->data(), 1, data->size(), stdout) != data->size()) {
        return void(*exit_code = Fail(Status::IOError("write to standard output failed")));
      }
    }
    if (std::fflush(stdout) != 0) *exit_code = Fail(Status::IOError("write to standard output failed"));
  });
}

}  // namespace jsnap::cli
