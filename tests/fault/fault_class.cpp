#include "fault_class.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>

namespace dynmx::fault {
namespace {

int failedParts() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return 0;
  const auto* result = info->result();
  int n = 0;
  for (int i = 0; i < result->total_part_count(); ++i)
    if (result->GetTestPartResult(i).failed()) ++n;
  return n;
}

}  // namespace

long lostMessages(const testbed::MailSink& sink, const std::map<std::string, std::string>& expected) {
  std::map<std::string, std::multiset<std::string>> got;
  for (const auto& m : sink.messages())
    for (const auto& r : m.recipients) got[m.testId].insert(r.substr(0, r.find('@')));
  long lost = 0;
  for (const auto& [id, user] : expected) {
    if (got[id] != std::multiset<std::string>{user}) {
      ++lost;
      std::string seen;
      for (const auto& u : got[id]) seen += " " + u;
      ADD_FAILURE() << "message " << id << " for " << user << " arrived as [" << seen << " ]";
    }
  }
  return lost;
}

FaultClass::FaultClass(std::string name) : name_(std::move(name)) {}

void FaultClass::scenario(const std::string& name, const std::function<void(Scenario&)>& body) {
  Scenario s{name, 0};
  const int before = failedParts();
  std::cout << "[ fault    ] " << name_ << "/" << name << std::endl;
  {
    SCOPED_TRACE("fault scenario " + name_ + "/" + name);
    body(s);
  }
  ++tried_;
  lost_ += s.lost;
  EXPECT_EQ(s.lost, 0) << name_ << "/" << name << ": messages lost";
  if (failedParts() == before && s.lost == 0) {
    ++survived_;
    std::cout << "[ survived ] " << name_ << "/" << name << std::endl;
  } else {
    failed_.push_back(name);
    std::cout << "[ FAILED   ] " << name_ << "/" << name << std::endl;
  }
}

void FaultClass::report() {
  std::string line = "fault class " + name_ + ": " + std::to_string(tried_) + " tried, " +
                     std::to_string(survived_) + " survived, " + std::to_string(lost_) + " messages lost";
  if (!failed_.empty()) {
    line += " (failed:";
    for (const auto& f : failed_) line += " " + f;
    line += ")";
  }
  std::cout << line << std::endl;
#ifdef DYNMX_FAULT_SUMMARY_FILE
  if (std::ofstream out(DYNMX_FAULT_SUMMARY_FILE, std::ios::app); out) out << line << "\n";
#endif
  EXPECT_GT(tried_, 0);
  EXPECT_EQ(survived_, tried_) << line;
  EXPECT_EQ(lost_, 0) << line;
}

}  // namespace dynmx::fault
