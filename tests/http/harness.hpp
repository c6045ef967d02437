#pragma once
// Feeds wire bytes to the parsers in different splittings and summarises what comes
// out, so a test can assert that every splitting gives the same result.

#include <khz/buffer/block_pool.hpp>
#include <khz/buffer/link_buffer.hpp>
#include <khz/http/parser.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace khz::test {

enum class feed_mode {
  whole,               // everything in one append
  bytewise,            // one byte at a time, appended to the same buffer (blocks fill up)
  bytewise_blocks,     // one byte at a time, each byte in a block of its own
  random_same,         // random pieces appended to the same buffer
  random_blocks,       // random pieces, each in a block of its own
};

inline const char* to_string(feed_mode m) {
  switch (m) {
    case feed_mode::whole: return "whole";
    case feed_mode::bytewise: return "bytewise";
    case feed_mode::bytewise_blocks: return "bytewise_blocks";
    case feed_mode::random_same: return "random_same";
    case feed_mode::random_blocks: return "random_blocks";
  }
  return "?";
}

inline std::string to_string(const link_buffer& b) {
  std::string s;
  b.for_each_chunk([&](std::string_view c) { s.append(c); });
  return s;
}

inline std::string summarize_fields(const headers& h) {
  std::string s;
  for (const header_field& f : h) {
    s.append(f.name).append("=").append(f.value).append(";");
  }
  return s;
}

inline std::string summarize(const request& r) {
  std::string s = "REQ ";
  s.append(r.method_name()).append(" ").append(r.target());
  s += " 1." + std::to_string(r.version().minor);
  s += " ka=" + std::to_string(r.keep_alive());
  if (r.chunked()) s += " chunked";
  if (r.expect_continue()) s += " expect100";
  if (!r.upgrade().empty()) s.append(" upgrade=").append(r.upgrade());
  s += " [" + summarize_fields(r.headers()) + "]";
  s += " body=" + to_string(r.body());
  if (!r.trailers().empty()) s += " trailers=[" + summarize_fields(r.trailers()) + "]";
  return s;
}

inline std::string summarize(const response& r) {
  std::string s = "RES ";
  s += std::to_string(r.status_code());
  s.append(" '").append(r.reason()).append("'");
  s += " 1." + std::to_string(r.version().minor);
  s += " ka=" + std::to_string(r.keep_alive());
  if (r.chunked()) s += " chunked";
  s += " [" + summarize_fields(r.headers()) + "]";
  s += " body=" + to_string(r.body());
  if (!r.trailers().empty()) s += " trailers=[" + summarize_fields(r.trailers()) + "]";
  return s;
}

struct outcome {
  std::vector<std::string> messages;  // summaries, in order
  unsigned error = 0;                 // HTTP status of the parse error, 0 if none
  std::string reason;                 // its reason
  std::string end;                    // "idle", "pending", "closed", "error"
  std::size_t left = 0;               // bytes left unconsumed in the input at the end

  std::string str() const {
    std::string s;
    for (const auto& m : messages) s += m + "\n";
    s += "error=" + std::to_string(error) + " (" + reason + ") end=" + end;
    // After an error the input is abandoned: how much of it was consumed is not part of
    // the contract.
    if (end != "error") s += " left=" + std::to_string(left);
    return s;
  }
};

// Runs `wire` through a fresh parser split per `mode`. Messages are moved into a vector
// and summarised only after the input buffer is gone: the views must outlive it.
// With eof, the parser is told the peer closed after the last byte.
template <class Parser, class Message>
outcome run_parser(std::string_view wire, feed_mode mode, std::uint64_t seed, bool eof = false,
                   const http_limits& limits = {}, method request_method = method::get) {
  outcome out;
  std::vector<Message> done;
  {
    Parser parser(limits);
    if constexpr (std::is_same_v<Parser, response_parser>) parser.set_request_method(request_method);
    link_buffer in;
    Message current;
    std::mt19937_64 rng(seed);
    bool stop = false;
    auto drain = [&] {
      while (!stop) {
        parse_status st = parser.parse(in, current);
        if (st == parse_status::message_complete) {
          done.push_back(std::move(current));
          current = Message();
          continue;
        }
        if (st == parse_status::headers_complete) continue;
        if (st == parse_status::error) {
          out.error = parser.error().status;
          out.reason = parser.error().reason;
          out.end = "error";
          stop = true;
        } else if (st == parse_status::closed) {
          out.end = "closed";
          stop = true;
        }
        break;
      }
      in.release();
    };
    std::size_t pos = 0;
    while (pos < wire.size() && !stop) {
      std::size_t n = wire.size() - pos;
      switch (mode) {
        case feed_mode::whole: break;
        case feed_mode::bytewise:
        case feed_mode::bytewise_blocks: n = 1; break;
        case feed_mode::random_same:
        case feed_mode::random_blocks: n = std::min<std::size_t>(n, 1 + rng() % 64); break;
      }
      std::string_view piece = wire.substr(pos, n);
      pos += n;
      if (mode == feed_mode::bytewise_blocks || mode == feed_mode::random_blocks) {
        link_buffer own;
        own.append(piece);
        in.append(std::move(own));
      } else {
        in.append(piece);
      }
      in.flush();
      drain();
    }
    if (!stop && eof) {
      parse_status st = parser.eof();
      if (st == parse_status::message_complete) {
        done.push_back(std::move(current));
        current = Message();
        st = parser.parse(in, current);
      }
      if (st == parse_status::error) {
        out.error = parser.error().status;
        out.reason = parser.error().reason;
        out.end = "error";
      } else {
        out.end = "closed";
      }
      stop = true;
    }
    if (!stop) out.end = parser.idle() ? "idle" : "pending";
    out.left = in.size() + (wire.size() - pos);
  }
  for (const Message& m : done) out.messages.push_back(summarize(m));
  return out;
}

}  // namespace khz::test
