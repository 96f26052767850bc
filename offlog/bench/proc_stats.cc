#include "offlog/bench/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace offlog::bench {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> out;
  const std::string task_dir = absl::StrCat("/proc/", pid, "/task");
  DIR* dir = opendir(task_dir.c_str());
  if (dir == nullptr) return out;
  while (struct dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string text =
        ReadAll(absl::StrCat(task_dir, "/", e->d_name, "/children"));
    for (absl::string_view tok :
         absl::StrSplit(text, ' ', absl::SkipWhitespace())) {
      int child;
      if (absl::SimpleAtoi(tok, &child)) out.push_back(child);
    }
  }
  closedir(dir);
  return out;
}

// Adds utime+stime+cutime+cstime from /proc/<pid>/stat; false when gone.
bool AddCpu(pid_t pid, double* cpu_s) {
  std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  // The command name is parenthesised and may hold spaces: skip past it.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
  // Fields after the name start at field 3 (state); utime is field 14.
  if (f.size() < 15) return false;
  double ticks = 0;
  for (int field = 14; field <= 17; ++field) {
    int64_t v;
    if (absl::SimpleAtoi(f[field - 3], &v)) ticks += v;
  }
  *cpu_s += ticks / sysconf(_SC_CLK_TCK);
  return true;
}

int64_t StatusKb(const std::string& status, absl::string_view key) {
  size_t pos = absl::string_view(status).find(key);
  if (pos == std::string::npos) return 0;
  int64_t kb = 0;
  sscanf(status.c_str() + pos + key.size(), " %ld", &kb);
  return kb;
}

}  // namespace

std::vector<pid_t> ProcessTree(pid_t root) {
  std::vector<pid_t> tree;
  if (access(absl::StrCat("/proc/", root).c_str(), F_OK) != 0) return tree;
  tree.push_back(root);
  for (size_t i = 0; i < tree.size(); ++i) {
    for (pid_t child : Children(tree[i])) tree.push_back(child);
  }
  return tree;
}

TreeStats SampleTree(pid_t root) {
  TreeStats stats;
  for (pid_t pid : ProcessTree(root)) {
    if (!AddCpu(pid, &stats.cpu_s)) continue;
    const std::string status = ReadAll(absl::StrCat("/proc/", pid, "/status"));
    stats.rss_kb += StatusKb(status, "VmRSS:");
    stats.hwm_kb += StatusKb(status, "VmHWM:");
    ++stats.processes;
  }
  return stats;
}

}  // namespace offlog::bench
