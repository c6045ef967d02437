#pragma once
// khz-fetch, the command line: a small curl on khz::client.
//
//   khz-fetch [-i] [-I] [-X METHOD] [-H 'Name: value']... [-d DATA | --data-file FILE]
//             [--max-redirs N] [--timeout SECONDS] [-o FILE] URL...
//
//   -i            print the status line and the header fields before the body
//   -I            HEAD request; print the status line and the header fields only
//   -X METHOD     request method (default GET, or POST with -d / --data-file)
//   -H 'N: v'     add a header field (repeatable)
//   -d DATA       request body; --data-file FILE sends a file (streamed from disk)
//   --max-redirs  redirects to follow (default 10; 0: print the 3xx itself)
//   --timeout S   deadline of each request, in seconds (decimals allowed; default 30)
//   -o FILE       write the output to FILE instead of stdout
//
// Several URLs are fetched in order through one client, so pooled connections are reused.
// Bodies are streamed to the output piece by piece (never held whole). On a failure the
// program prints one line on stderr, "khz-fetch: <class>: <what> (<url>)", where <class>
// is dns, connect, timeout, reset, protocol, too_large, redirects..., stops, and exits with
// a code per class (curl's numbers where curl has one): dns 6, connect 7, protocol 8,
// redirects 47, too_large 63, reset 56, timeout 28, usage 2, anything else 1.

#include <khz/client/client.hpp>

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace khz::fetch_cli {

inline int exit_code_for(std::string_view cls) {
  if (cls == "dns") return 6;
  if (cls == "connect") return 7;
  if (cls == "protocol") return 8;
  if (cls == "timeout") return 28;
  if (cls == "redirects") return 47;
  if (cls == "reset") return 56;
  if (cls == "too_large") return 63;
  return 1;
}

struct options {
  bool include_head = false;
  bool head_only = false;
  std::string method;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string data;
  bool has_data = false;
  std::string data_file;
  unsigned max_redirs = 10;
  double timeout_s = 30;
  std::string output;
  std::vector<std::string> urls;
};

inline const char* usage() {
  return "usage: khz-fetch [-i] [-I] [-X METHOD] [-H 'Name: value']... [-d DATA | --data-file FILE]\n"
         "                 [--max-redirs N] [--timeout SECONDS] [-o FILE] URL...\n";
}

// Parses the arguments; on error returns false with a message in `why`.
inline bool parse(const std::vector<std::string>& args, options& o, std::string& why) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) {
        why = a + " needs a value";
        return false;
      }
      out = args[++i];
      return true;
    };
    std::string v;
    if (a == "-i") {
      o.include_head = true;
    } else if (a == "-I") {
      o.head_only = true;
    } else if (a == "-X") {
      if (!value(o.method)) return false;
    } else if (a == "-H") {
      if (!value(v)) return false;
      std::size_t colon = v.find(':');
      if (colon == std::string::npos || colon == 0) {
        why = "-H wants 'Name: value', got '" + v + "'";
        return false;
      }
      std::string value_part = v.substr(colon + 1);
      while (!value_part.empty() && value_part.front() == ' ') value_part.erase(0, 1);
      o.headers.emplace_back(v.substr(0, colon), value_part);
    } else if (a == "-d" || a == "--data") {
      if (!value(o.data)) return false;
      o.has_data = true;
    } else if (a == "--data-file") {
      if (!value(o.data_file)) return false;
    } else if (a == "--max-redirs") {
      if (!value(v)) return false;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), o.max_redirs);
      if (ec != std::errc{} || p != v.data() + v.size()) {
        why = "--max-redirs wants a number, got '" + v + "'";
        return false;
      }
    } else if (a == "--timeout") {
      if (!value(v)) return false;
      try {
        std::size_t used = 0;
        o.timeout_s = std::stod(v, &used);
        if (used != v.size() || o.timeout_s <= 0) throw std::invalid_argument(v);
      } catch (const std::exception&) {
        why = "--timeout wants a positive number of seconds, got '" + v + "'";
        return false;
      }
    } else if (a == "-o") {
      if (!value(o.output)) return false;
    } else if (!a.empty() && a[0] == '-') {
      why = "unknown option " + a;
      return false;
    } else {
      o.urls.push_back(a);
    }
  }
  if (o.urls.empty()) {
    why = "no URL given";
    return false;
  }
  if (o.has_data && !o.data_file.empty()) {
    why = "-d and --data-file cannot be used together";
    return false;
  }
  return true;
}

inline void write_head(std::FILE* out, const response& r) {
  std::fprintf(out, "HTTP/%u.%u %u %.*s\r\n", r.version().major, r.version().minor, r.status_code(),
               static_cast<int>(r.reason().size()), r.reason().data());
  for (const header_field& f : r.headers()) {
    std::fprintf(out, "%.*s: %.*s\r\n", static_cast<int>(f.name.size()), f.name.data(), static_cast<int>(f.value.size()),
                 f.value.data());
  }
  std::fputs("\r\n", out);
}

// Runs the CLI: `out` gets the output (unless -o), `err` the error line. Returns the exit
// code.
inline int run(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  options o;
  std::string why;
  if (!parse(args, o, why)) {
    std::fprintf(err, "khz-fetch: %s\n%s", why.c_str(), usage());
    return 2;
  }
  std::FILE* sink = out;
  if (!o.output.empty()) {
    sink = std::fopen(o.output.c_str(), "wb");
    if (sink == nullptr) {
      std::fprintf(err, "khz-fetch: cannot open %s for writing\n", o.output.c_str());
      return 23;
    }
  }
  int code = 0;
  {
    client c(client_options{}
                 .with_deadline(std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000)))
                 .with_max_redirects(o.max_redirs)
                 .with_user_agent("khz-fetch/0.1")
                 .with_max_response_body_size(UINT64_MAX));
    c.run([&]() -> task<> {
      for (const std::string& u : o.urls) {
        request req;
        if (o.head_only) {
          req.set_method(method::head);
        } else if (!o.method.empty()) {
          req.set_method(o.method);
        } else {
          req.set_method(o.has_data || !o.data_file.empty() ? method::post : method::get);
        }
        req.set_target(u);
        for (const auto& [n, v] : o.headers) req.headers().add(n, v);
        send_options so;
        if (o.has_data) so.body = body_source::bytes(o.data);
        if (!o.data_file.empty()) so.body = body_source::file(o.data_file);
        auto fail = [&](std::error_code ec) {
          std::string_view cls = failure_class(ec);
          std::fprintf(err, "khz-fetch: %.*s: %s (%s)\n", static_cast<int>(cls.size()), cls.data(),
                       ec.message().c_str(), u.c_str());
          code = exit_code_for(cls);
        };
        auto st = co_await c.stream(std::move(req), std::move(so));
        if (!st) {
          fail(st.error());
          co_return;
        }
        if (o.include_head || o.head_only) write_head(sink, st->head());
        for (;;) {
          auto piece = co_await st->read();
          if (!piece) {
            std::fflush(sink);
            fail(piece.error());
            co_return;
          }
          if (piece->empty()) break;
          piece->for_each_chunk([&](std::string_view chunk) { std::fwrite(chunk.data(), 1, chunk.size(), sink); });
        }
        std::fflush(sink);
      }
    });
  }
  if (sink != out) std::fclose(sink);
  return code;
}

}  // namespace khz::fetch_cli
