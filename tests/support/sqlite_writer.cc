// A process that hammers a SQLite database the way a service does, keeping
// invariants a torn copy would break:
//   - transfers between 100 accounts: the total balance never changes;
//   - a sequence table gains n = max + 1 in every transaction: no gaps;
//   - a message store with two secondary indexes gets rows and updates.
//
//   sqlite_writer DB wal|delete init            create the schema and data
//   sqlite_writer DB wal|delete run SECONDS     transactions until time is up
//   sqlite_writer DB wal|delete lock SECONDS    hold an exclusive lock
//   sqlite_writer DB wal|delete chat N_INSERT N_UPDATE   a chat-store workload
//   sqlite_writer DB verify                     check integrity and invariants
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

namespace {

constexpr int kAccounts = 100;
constexpr long kTotal = kAccounts * 1000;

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  for (;;) {
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return;
    if (rc == SQLITE_BUSY) {
      sqlite3_free(err);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    std::fprintf(stderr, "sqlite_writer: %s: %s\n", sql.substr(0, 60).c_str(), err ? err : "?");
    std::exit(2);
  }
}

long QueryLong(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  long v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

std::string Text(std::mt19937_64& rng, size_t n) {
  static const char* words[] = {"hello", "meeting", "tomorrow", "deploy", "the", "backup", "ok", "thanks", "lunch", "review"};
  std::string s;
  while (s.size() < n) s += std::string(words[rng() % 10]) + " ";
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 64;
  const std::string path = argv[1], mode = argv[2], cmd = argc > 3 ? argv[3] : "";
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 2;
  struct Closer {  // every return closes the connection (and checkpoints)
    sqlite3* db;
    ~Closer() { sqlite3_close(db); }
  } closer{db};
  sqlite3_busy_timeout(db, 10000);
  // init and chat are reproducible (benchmarks build corpora with them);
  // concurrent runs differ.
  std::mt19937_64 rng(cmd == "run" ? static_cast<uint64_t>(::getpid()) : 42);
  if (mode == "verify") {
    Exec(db, "BEGIN");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
    std::string ic = sqlite3_step(st) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) : "?";
    sqlite3_finalize(st);
    const long total = QueryLong(db, "SELECT sum(balance) FROM accounts");
    const long count = QueryLong(db, "SELECT count(*) FROM seq"), max = QueryLong(db, "SELECT max(n) FROM seq");
    std::printf("integrity=%s total=%ld seq_count=%ld seq_max=%ld\n", ic.c_str(), total, count, max);
    return ic == "ok" && total == kTotal && count == max ? 0 : 1;
  }
  Exec(db, std::string("PRAGMA journal_mode=") + (mode == "wal" ? "WAL" : "DELETE"));
  if (cmd == "init") {
    Exec(db, "CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)");
    Exec(db, "CREATE TABLE IF NOT EXISTS seq(n INTEGER PRIMARY KEY)");
    Exec(db, "CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY, chat INTEGER, sender INTEGER, "
             "sent_at INTEGER, body TEXT)");
    Exec(db, "CREATE INDEX IF NOT EXISTS messages_chat ON messages(chat, sent_at)");
    Exec(db, "CREATE INDEX IF NOT EXISTS messages_sender ON messages(sender, sent_at)");
    Exec(db, "BEGIN");
    for (int i = 1; i <= kAccounts; ++i) Exec(db, "INSERT INTO accounts VALUES(" + std::to_string(i) + ", 1000)");
    const int rows = argc > 4 ? std::atoi(argv[4]) : 2000;
    sqlite3_stmt* ins = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO messages(chat, sender, sent_at, body) VALUES(?,?,?,?)", -1, &ins, nullptr);
    for (int i = 0; i < rows; ++i) {
      const std::string body = Text(rng, 60 + rng() % 300);
      sqlite3_bind_int64(ins, 1, static_cast<int64_t>(rng() % 500));
      sqlite3_bind_int64(ins, 2, static_cast<int64_t>(rng() % 2000));
      sqlite3_bind_int64(ins, 3, 1700000000 + i);
      sqlite3_bind_text(ins, 4, body.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    Exec(db, "COMMIT");
    return 0;
  }
  if (cmd == "lock") {
    Exec(db, "BEGIN EXCLUSIVE");
    Exec(db, "UPDATE accounts SET balance = balance WHERE id = 1");
    std::this_thread::sleep_for(std::chrono::seconds(std::atoi(argv[4])));
    Exec(db, "COMMIT");
    return 0;
  }
  if (cmd == "chat") {
    const int inserts = std::atoi(argv[4]), updates = std::atoi(argv[5]);
    const long max_id = QueryLong(db, "SELECT max(id) FROM messages");
    Exec(db, "BEGIN");
    for (int i = 0; i < inserts; ++i) {
      Exec(db, "INSERT INTO messages(chat, sender, sent_at, body) VALUES(" + std::to_string(rng() % 500) + "," +
                   std::to_string(rng() % 2000) + "," + std::to_string(1800000000 + i) + ",'" + Text(rng, 100 + rng() % 200) + "')");
    }
    for (int i = 0; i < updates; ++i) {
      Exec(db, "UPDATE messages SET body = '" + Text(rng, 80) + "' WHERE id = " + std::to_string(1 + rng() % max_id));
    }
    Exec(db, "COMMIT");
    return 0;
  }
  if (cmd == "run") {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[4]));
    long n = QueryLong(db, "SELECT ifnull(max(n), 0) FROM seq");
    while (std::chrono::steady_clock::now() < until) {
      const int a = 1 + static_cast<int>(rng() % kAccounts), b = 1 + static_cast<int>(rng() % kAccounts);
      const int amount = static_cast<int>(rng() % 50);
      Exec(db, "BEGIN IMMEDIATE");
      Exec(db, "UPDATE accounts SET balance = balance - " + std::to_string(amount) + " WHERE id = " + std::to_string(a));
      Exec(db, "UPDATE accounts SET balance = balance + " + std::to_string(amount) + " WHERE id = " + std::to_string(b));
      Exec(db, "INSERT INTO seq VALUES(" + std::to_string(++n) + ")");
      Exec(db, "INSERT INTO messages(chat, sender, sent_at, body) VALUES(1, 2, " + std::to_string(n) + ", '" + Text(rng, 200) + "')");
      Exec(db, "COMMIT");
    }
    std::printf("%ld transactions\n", n);
    return 0;
  }
  return 64;
}
