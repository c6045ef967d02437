// A user's program: links khz::khz and uses its public API.
#include <khz/khz.hpp>

#include <cstdio>

int main() {
  khz::link_buffer buffer;
  buffer.append("hello, consumer");
  buffer.flush();
  auto view = buffer.next(5);
  if (view != "hello") {
    std::puts("unexpected buffer content");
    return 1;
  }
  std::puts("khz consumer ok");
  return 0;
}
