#include "jsnap/record.h"

#include <gtest/gtest.h>

namespace jsnap {
namespace {

TEST(Record, RoundTripsFieldsAndSkipsUnknownTags) {
  RecordWriter w;
  w.Bytes(1, std::string("a\0b", 3));
  w.Uint(2, 300);
  w.Int(3, -5);
  w.Bytes(99, "future");
  RecordReader r(w.data());
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.tag(), 1u);
  EXPECT_EQ(r.bytes(), std::string_view("a\0b", 3));
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.AsUint(), 300u);
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.AsInt(), -5);
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.tag(), 99u);
  EXPECT_FALSE(r.Next());
  EXPECT_TRUE(r.status().ok());
}

}  // namespace
}  // namespace jsnap
