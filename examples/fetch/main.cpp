// khz-fetch: fetch URLs with khz::client, like a small curl. See fetch_cli.hpp.
#include "fetch_cli.hpp"

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return khz::fetch_cli::run(args, stdout, stderr);
}
