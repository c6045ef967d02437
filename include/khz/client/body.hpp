#pragma once
// body_source: what a client request sends as its body.
//
//   none            no body (POST/PUT/PATCH still carry "Content-Length: 0")
//   bytes(text)     a copy in memory, sent with Content-Length; replayable
//   file(path)      a regular file, opened and sized when the request is written, sent with
//                   Content-Length in pieces that wait for the socket (write
//                   backpressure); replayable (the file is read again on a retry)
//   producer(fn)    chunked: fn(out) is awaited repeatedly on the loop; it appends the next
//                   bytes to `out` and returns true while more follow, false at the end
//                   (bytes appended by that last call are still sent). Not replayable
//                   unless said so: a retry or a 307/308 redirect then fails with
//                   client_errc::body_not_replayable rather than send half a body.
//
// Lifetime: a body_source owns what it needs (the bytes, the path, the function); the
// producer's captures must stay valid until the call finishes.

#include <khz/base/config.hpp>
#include <khz/buffer/link_buffer.hpp>
#include <khz/core/task.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

class body_source {
 public:
  enum class kind { none, bytes, file, producer };
  using producer_fn = std::function<task<bool>(link_buffer& out)>;

  body_source() = default;
  static body_source bytes(std::string_view data) {
    body_source b;
    b.kind_ = kind::bytes;
    b.data_ = std::make_shared<const std::string>(data);
    return b;
  }
  static body_source file(std::string path) {
    body_source b;
    b.kind_ = kind::file;
    b.path_ = std::move(path);
    return b;
  }
  static body_source producer(producer_fn fn, bool replayable = false) {
    body_source b;
    b.kind_ = kind::producer;
    b.producer_ = std::make_shared<producer_fn>(std::move(fn));
    b.replayable_ = replayable;
    return b;
  }

  kind type() const noexcept { return kind_; }
  bool empty() const noexcept { return kind_ == kind::none; }
  bool replayable() const noexcept { return kind_ != kind::producer || replayable_; }
  const std::string& data() const noexcept { return data_ ? *data_ : empty_string(); }
  const std::string& path() const noexcept { return path_; }
  const producer_fn& produce() const noexcept { return *producer_; }

 private:
  static const std::string& empty_string() noexcept {
    static const std::string e;
    return e;
  }
  kind kind_ = kind::none;
  std::shared_ptr<const std::string> data_;  // shared: a retry or a redirect re-sends it
  std::string path_;
  std::shared_ptr<producer_fn> producer_;
  bool replayable_ = false;
};

KHZ_END_NAMESPACE
