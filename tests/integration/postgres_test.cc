// pg_dump through --stdin-from-command against a real PostgreSQL server,
// started by the test in a temporary folder (Unix socket only) and stopped
// after.
#include <glob.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "cli_fixture.h"

namespace jsnap::test {
namespace {

std::string PgBin() {
  glob_t g;
  std::string bin;
  if (::glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) == 0 && g.gl_pathc > 0) {
    bin = g.gl_pathv[g.gl_pathc - 1];
    bin.resize(bin.size() - std::string("/initdb").size());
  }
  ::globfree(&g);
  return bin;
}

class PostgresTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    bin_ = PgBin();
    ASSERT_FALSE(bin_.empty()) << "PostgreSQL is not installed (tools/test installs it)";
    // PostgreSQL refuses to run as root: the server runs as 'postgres'.
    if (IsRoot()) {
      ASSERT_NE(::getpwnam("postgres"), nullptr) << "no 'postgres' user";
      as_ = {"runuser", "-u", "postgres", "--"};
    }
    char tmpl[] = "/tmp/jsnap-pg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    pg_dir_ = tmpl;
    ::chmod(pg_dir_.c_str(), 0755);
    if (IsRoot()) RunCommand({"chown", "postgres:postgres", pg_dir_});
    port_ = std::to_string(20000 + ::getpid() % 20000);
    auto init = Pg({bin_ + "/initdb", "-D", pg_dir_ + "/data", "-A", "trust", "-U", "postgres"});
    ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
    auto start = Pg({bin_ + "/pg_ctl", "-D", pg_dir_ + "/data", "-w", "-l", pg_dir_ + "/log", "-o",
                     "-k " + pg_dir_ + " -p " + port_ + " -c listen_addresses=''", "start"});
    ASSERT_EQ(start.exit_code, 0) << start.out << start.err << ReadFile(pg_dir_ + "/log");
    started_ = true;
  }
  void TearDown() override {
    if (started_) Pg({bin_ + "/pg_ctl", "-D", pg_dir_ + "/data", "-m", "immediate", "stop"});
    if (!pg_dir_.empty()) RemoveAll(pg_dir_);
  }
  CommandResult Pg(std::vector<std::string> argv, const std::string* input = nullptr) {
    argv.insert(argv.begin(), as_.begin(), as_.end());
    return RunCommand(argv, {}, input);
  }
  CommandResult Psql(const std::string& db, const std::string& sql) {
    return RunCommand({bin_ + "/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", pg_dir_, "-p", port_,
                       "-U", "postgres", "-d", db, "-c", sql});
  }
  std::vector<std::string> PgDump(const std::string& db) {
    return {bin_ + "/pg_dump", "-h", pg_dir_, "-p", port_, "-U", "postgres", db};
  }

  std::string bin_, pg_dir_, port_;
  std::vector<std::string> as_;
  bool started_ = false;
};

TEST_F(PostgresTest, DumpRestoreAndReloadIsRowForRowIdentical) {
  ASSERT_EQ(Psql("postgres", "CREATE DATABASE shop").exit_code, 0);
  auto make = Psql("shop",
                   "CREATE TABLE items(id serial PRIMARY KEY, name text, price numeric(10,2), tags text[], "
                   "note text); INSERT INTO items(name, price, tags, note) SELECT 'item ' || g, g * 1.25, "
                   "ARRAY['a', 'b' || g], CASE WHEN g % 7 = 0 THEN E'multi\\nline ''quoted'' ü' END "
                   "FROM generate_series(1, 5000) g");
  ASSERT_EQ(make.exit_code, 0) << make.err;
  std::vector<std::string> args = {"create", "--stdin-from-command", "--stdin-name", "/backups/shop.sql", "--"};
  for (const auto& a : PgDump("shop")) args.push_back(a);
  auto backup = J(args);
  ASSERT_EQ(backup.exit_code, 0) << backup.err;

  const std::string restored = Restore("latest", "/backups") + "/shop.sql";
  ASSERT_EQ(Psql("postgres", "CREATE DATABASE shop2").exit_code, 0);
  auto load = RunCommand({bin_ + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg_dir_, "-p", port_,
                          "-U", "postgres", "-d", "shop2", "-f", restored});
  ASSERT_EQ(load.exit_code, 0) << load.err;
  const std::string query = "SELECT id, name, price, tags, note FROM items ORDER BY id";
  auto a = Psql("shop", query), b = Psql("shop2", query);
  ASSERT_EQ(a.exit_code, 0);
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 5000 + 5000 / 7);  // notes add lines
  EXPECT_EQ(a.out, b.out);
}

TEST_F(PostgresTest, FailingPgDumpRecordsNoSnapshot) {
  std::vector<std::string> args = {"create", "--stdin-from-command", "--"};
  for (const auto& a : PgDump("no_such_database")) args.push_back(a);
  auto r = J(args);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pg_dump"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exited with status 1"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(J({"snapshots", "--json"}).out).size(), 0u);
}

}  // namespace
}  // namespace jsnap::test
