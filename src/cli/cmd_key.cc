#include "commands.h"

namespace jsnap::cli {

void RegisterKey(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* key = app.add_subcommand("key", "Manage the passwords that open the repository");
  key->require_subcommand(1);
  auto new_pw_file = std::make_shared<std::string>();

  auto* add = key->add_subcommand("add", "Add a password (a new key file for the same master key)");
  add->add_option("--new-password-file", *new_pw_file, "Read the new password from this file");
  add->callback([&g, new_pw_file, exit_code] {
    auto repo = OpenRepo(g, LockMode::kAppend, false, "key add");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    auto pw = ReadNewPassword(nullptr, *new_pw_file);
    if (!pw.ok()) return void(*exit_code = Fail(pw.status()));
    auto id = (*repo)->AddKey(pw.value(), KdfParams::Default());
    if (!id.ok()) return void(*exit_code = Fail(id.status()));
    if (g.json) PrintJson({{"id", id.value()}});
    else std::printf("added key %s\n", id->substr(0, 8).c_str());
  });

  auto* list = key->add_subcommand("list", "List the key files");
  list->callback([&g, exit_code] {
    auto repo = OpenRepo(g, LockMode::kShared, false, "key list");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    auto keys = (*repo)->ListKeys();
    if (!keys.ok()) return void(*exit_code = Fail(keys.status()));
    nlohmann::json arr = nlohmann::json::array();
    if (!g.json) std::printf(" %-10s %-20s %-16s %s\n", "ID", "Created", "User", "Host");
    for (const KeyInfo& k : keys.value()) {
      if (g.json) {
        arr.push_back({{"id", k.id}, {"current", k.current}, {"created", k.created},
                       {"username", k.username}, {"hostname", k.hostname}});
      } else {
        std::printf("%s%-10s %-20s %-16s %s\n", k.current ? "*" : " ", k.id.substr(0, 8).c_str(),
                    k.created.c_str(), k.username.c_str(), k.hostname.c_str());
      }
    }
    if (g.json) PrintJson(arr);
  });

  auto remove_id = std::make_shared<std::string>();
  auto* remove = key->add_subcommand("remove", "Remove a key file (not the one in use)");
  remove->add_option("ID", *remove_id, "Key id or unique prefix")->required();
  remove->callback([&g, remove_id, exit_code] {
    auto repo = OpenRepo(g, LockMode::kExclusive, false, "key remove");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    Status st = (*repo)->RemoveKey(*remove_id);
    if (!st.ok()) return void(*exit_code = Fail(st));
    if (!g.quiet) std::printf("removed key %s\n", remove_id->c_str());
  });

  auto* passwd = key->add_subcommand("passwd", "Change the password of the key in use");
  passwd->add_option("--new-password-file", *new_pw_file, "Read the new password from this file");
  passwd->callback([&g, new_pw_file, exit_code] {
    auto repo = OpenRepo(g, LockMode::kExclusive, false, "key passwd");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    auto pw = ReadNewPassword(nullptr, *new_pw_file);
    if (!pw.ok()) return void(*exit_code = Fail(pw.status()));
    const std::string old_id = (*repo)->current_key_id();
    // The new key is durable before the old one goes: never zero keys.
    auto id = (*repo)->AddKey(pw.value(), KdfParams::Default());
    if (!id.ok()) return void(*exit_code = Fail(id.status()));
    Status st = (*repo)->backend().Remove({FileType::kKey, old_id});
    if (!st.ok()) return void(*exit_code = Fail(st));
    if (!g.quiet) std::printf("password changed (key %s replaces %s)\n", id->substr(0, 8).c_str(), old_id.substr(0, 8).c_str());
  });
}

}  // namespace jsnap::cli
