// Streaming both ways: a chunked response written while it is produced, a known-length
// download, and uploads read piece by piece while they arrive (never buffered whole).
//   $ khz-example-streaming
//   curl -N http://127.0.0.1:8080/ticks/5                    (one line every 200 ms, chunked)
//   curl -o /dev/null http://127.0.0.1:8080/bytes/100000000  (100 MB, Content-Length, bounded memory)
//   head -c 50000000 /dev/urandom | curl -T - http://127.0.0.1:8080/upload     (counts the bytes)
//   curl --data-binary @some.file http://127.0.0.1:8080/echo -o copy.file      (streamed back)
#include <khz/khz.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

int main() {
  khz::server s(khz::server_options{}
                    .with_address("127.0.0.1:8080")
                    .with_stream_request_body(true)  // handlers read bodies as they arrive
                    .with_max_request_body_size(std::uint64_t{1} << 30));

  // Chunked: each flush() puts a line on the wire while the handler goes on.
  s.get("/ticks/:n", [](khz::context& c) -> khz::task<> {
    const int n = std::clamp(std::stoi(std::string(c.param("n"))), 1, 100);
    auto w = c.stream(200, "text/plain; charset=utf-8");
    for (int i = 1; i <= n; ++i) {
      w.write(fmt::format("tick {} of {}\n", i, n));
      if (!co_await w.flush()) co_return;  // the client left
      if (i < n) co_await c.sleep(std::chrono::milliseconds(200));
    }
    c.response().trailers().add("X-Ticks", std::to_string(n));
    (void)co_await w.finish();
  });

  // Known length: flush() waits while the client reads slower than we write, so memory
  // stays at the server's high-water mark whatever the size.
  s.get("/bytes/:n", [](khz::context& c) -> khz::task<> {
    const std::uint64_t total = std::stoull(std::string(c.param("n")));
    const std::string block(64 * 1024, 'k');
    auto w = c.stream(200, "application/octet-stream", total);
    for (std::uint64_t sent = 0; sent < total;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), total - sent));
      w.write(std::string_view(block.data(), n));
      sent += n;
      if (!co_await w.flush()) co_return;
    }
  });

  // Streamed upload: pieces are zero-copy slices of the connection's input; reading stops
  // while this handler has not taken what arrived (read backpressure).
  s.post("/upload", [](khz::context& c) -> khz::task<> {
    std::uint64_t bytes = 0;
    std::uint64_t pieces = 0;
    for (;;) {
      khz::body_piece p = co_await c.read_body();
      if (p.error) {
        c.string(p.error == khz::errc::too_large ? 413 : 400, "upload failed: {}\n", p.error.message());
        co_return;
      }
      bytes += p.data.size();
      ++pieces;
      if (p.last) break;
    }
    c.string(200, "received {} bytes in {} pieces\n", bytes, pieces);
  });
  s.handle("PUT", "/upload", [](khz::context& c) -> khz::task<> {  // curl -T uses PUT
    std::uint64_t bytes = 0;
    for (;;) {
      khz::body_piece p = co_await c.read_body();
      if (p.error) {
        c.string(400, "upload failed: {}\n", p.error.message());
        co_return;
      }
      bytes += p.data.size();
      if (p.last) break;
    }
    c.string(200, "received {} bytes\n", bytes);
  });

  // Both at once: each piece of the upload goes back out as a chunk, without a copy.
  s.post("/echo", [](khz::context& c) -> khz::task<> {
    auto w = c.stream(200, "application/octet-stream");
    for (;;) {
      khz::body_piece p = co_await c.read_body();
      if (p.error) co_return;  // the server closes the connection after this response
      w.write(std::move(p.data));
      if (!co_await w.flush()) co_return;
      if (p.last) break;
    }
    (void)co_await w.finish();
  });

  s.spin();
}
