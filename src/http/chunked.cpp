#include <khz/http/chunked.hpp>
#include <khz/http/detail/chars.hpp>
#include <khz/http/headers.hpp>

#include <algorithm>
#include <cstdio>

KHZ_BEGIN_NAMESPACE

using detail::http_chars::cc_field_vchar;
using detail::http_chars::is_class;
using detail::http_chars::is_tchar;

namespace {
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }
int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// qdtext / quoted-pair bytes of a quoted-string (RFC 9110 §5.6.4).
constexpr bool is_qdtext(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5b) || (u >= 0x5d && u <= 0x7e) || u >= 0x80;
}
}  // namespace

void chunked_decoder::reset() noexcept {
  trailers_.clear();
  chunk_size_ = remaining_ = total_ = 0;
  line_bytes_ = trailer_count_ = 0;
  error_reason_ = "";
  error_status_ = 0;
  state_ = st::size_first;
}

chunked_decoder::step chunked_decoder::fail(step s, unsigned code, const char* reason) noexcept {
  state_ = st::error;
  error_status_ = code;
  error_reason_ = reason;
  s.st = status::error;
  return s;
}

chunked_decoder::step chunked_decoder::next(std::string_view in) {
  step s;
  if (state_ == st::error) {
    s.st = status::error;
    return s;
  }
  if (state_ == st::done) {
    s.st = status::done;
    return s;
  }
  std::size_t i = 0;
  const std::size_t n = in.size();
  while (i < n) {
    const char c = in[i];
    switch (state_) {
      case st::size_first: {
        int d = hex_digit(c);
        if (d < 0) return fail(s, 400, "invalid chunk size");
        chunk_size_ = static_cast<std::uint64_t>(d);
        line_bytes_ = 1;
        state_ = st::size;
        ++i;
        continue;
      }
      case st::size: {
        int d = hex_digit(c);
        if (d >= 0) {
          if (chunk_size_ > (UINT64_MAX >> 4)) return fail(s, 400, "chunk size overflow");
          chunk_size_ = (chunk_size_ << 4) | static_cast<std::uint64_t>(d);
        } else if (c == '\r') {
          state_ = st::size_lf;
        } else if (c == ';') {
          state_ = st::ext_name_start;
        } else if (is_ws(c)) {
          state_ = st::ext_before_semi;
        } else {
          return fail(s, 400, "invalid chunk size");
        }
        break;
      }
      case st::ext_before_semi:
        if (c == ';') state_ = st::ext_name_start;
        else if (!is_ws(c)) return fail(s, 400, "invalid chunk extension");
        break;
      case st::ext_name_start:
        if (is_tchar(c)) state_ = st::ext_name;
        else if (!is_ws(c)) return fail(s, 400, "invalid chunk extension");
        break;
      case st::ext_name:
        if (is_tchar(c)) break;
        if (c == '=') state_ = st::ext_value_start;
        else if (c == ';') state_ = st::ext_name_start;
        else if (c == '\r') state_ = st::size_lf;
        else if (is_ws(c)) state_ = st::ext_after_name;
        else return fail(s, 400, "invalid chunk extension");
        break;
      case st::ext_after_name:
        if (c == '=') state_ = st::ext_value_start;
        else if (c == ';') state_ = st::ext_name_start;
        else if (c == '\r') state_ = st::size_lf;
        else if (!is_ws(c)) return fail(s, 400, "invalid chunk extension");
        break;
      case st::ext_value_start:
        if (c == '"') state_ = st::ext_quoted;
        else if (is_tchar(c)) state_ = st::ext_token;
        else if (!is_ws(c)) return fail(s, 400, "invalid chunk extension value");
        break;
      case st::ext_token:
        if (is_tchar(c)) break;
        if (c == ';') state_ = st::ext_name_start;
        else if (c == '\r') state_ = st::size_lf;
        else if (is_ws(c)) state_ = st::ext_after_value;
        else return fail(s, 400, "invalid chunk extension value");
        break;
      case st::ext_quoted:
        if (c == '"') state_ = st::ext_after_value;
        else if (c == '\\') state_ = st::ext_quoted_escape;
        else if (!is_qdtext(c)) return fail(s, 400, "invalid chunk extension value");
        break;
      case st::ext_quoted_escape:
        if (!is_class(c, cc_field_vchar)) return fail(s, 400, "invalid chunk extension value");
        state_ = st::ext_quoted;
        break;
      case st::ext_after_value:
        if (c == ';') state_ = st::ext_name_start;
        else if (c == '\r') state_ = st::size_lf;
        else if (!is_ws(c)) return fail(s, 400, "invalid chunk extension");
        break;
      case st::size_lf:
        if (c != '\n') return fail(s, 400, "bare CR in chunk size line");
        ++i;
        if (chunk_size_ == 0) {
          state_ = st::trailer_start;
          continue;
        }
        if (total_ > limits_.max_body_size || chunk_size_ > limits_.max_body_size - total_)
          return fail(s, 413, "chunked body over the body limit");
        total_ += chunk_size_;
        remaining_ = chunk_size_;
        state_ = st::data;
        continue;
      case st::data: {
        // Framing so far is skip; the data run follows at once.
        s.skip = i;
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - i));
        s.data = take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = st::data_cr;
        return s;
      }
      case st::data_cr:
        if (c != '\r') return fail(s, 400, "chunk data not followed by CRLF");
        state_ = st::data_lf;
        ++i;
        continue;
      case st::data_lf:
        if (c != '\n') return fail(s, 400, "chunk data not followed by CRLF");
        state_ = st::size_first;
        ++i;
        continue;
      case st::trailer_start:
        if (c == '\r') {
          state_ = st::final_lf;
        } else if (is_tchar(c)) {
          if (++trailer_count_ > limits_.max_trailer_count) return fail(s, 431, "too many trailer fields");
          trailers_.push_back(c);
          state_ = st::trailer_name;
        } else {
          return fail(s, 400, is_ws(c) ? "obs-fold or whitespace in trailer section" : "invalid trailer field");
        }
        break;
      case st::trailer_name:
        if (is_tchar(c)) trailers_.push_back(c);
        else if (c == ':') {
          trailers_.push_back(c);
          state_ = st::trailer_value;
        } else {
          return fail(s, 400, "invalid trailer field name");
        }
        break;
      case st::trailer_value:
        if (c == '\r') state_ = st::trailer_lf;
        else if (is_class(c, cc_field_vchar)) trailers_.push_back(c);
        else return fail(s, 400, "invalid character in trailer value");
        break;
      case st::trailer_lf:
        if (c != '\n') return fail(s, 400, "bare CR in trailer section");
        trailers_.append("\r\n");
        state_ = st::trailer_start;
        break;
      case st::final_lf:
        if (c != '\n') return fail(s, 400, "bare CR after trailer section");
        state_ = st::done;
        s.skip = i + 1;
        s.st = status::done;
        return s;
      case st::done:
      case st::error:
        break;
    }
    ++i;
    // Size line and trailer section are bounded: a peer cannot make us scan forever.
    if (state_ >= st::size && state_ <= st::size_lf) {
      if (++line_bytes_ > limits_.max_line_bytes) return fail(s, 400, "chunk size line too long");
    } else if (state_ >= st::trailer_start && state_ <= st::final_lf) {
      if (trailers_.size() > limits_.max_trailer_bytes) return fail(s, 431, "trailer section too large");
    }
  }
  s.skip = n;
  return s;
}

void chunked_decoder::copy_trailers(headers& out) const {
  std::string_view rest = trailers_;
  while (!rest.empty()) {
    std::size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    std::size_t colon = line.find(':');
    out.add(line.substr(0, colon), detail::http_chars::trim_ows(line.substr(colon + 1)));
  }
}

// ------------------------------------------------------------------------- encoder

void write_chunk_size(link_buffer& out, std::size_t size) {
  char buf[24];
  int len = std::snprintf(buf, sizeof buf, "%zx\r\n", size);
  out.append(std::string_view(buf, static_cast<std::size_t>(len)));
}

void write_chunk(link_buffer& out, std::string_view data) {
  if (data.empty()) return;
  write_chunk_size(out, data.size());
  out.append(data);
  out.append("\r\n");
}

void write_chunk(link_buffer& out, link_buffer&& data) {
  data.flush();
  std::size_t n = data.size();
  if (n == 0) {
    data.clear();
    return;
  }
  write_chunk_size(out, n);
  out.append(std::move(data));
  out.append("\r\n");
}

void write_last_chunk(link_buffer& out, const headers* trailers) {
  out.append("0\r\n");
  if (trailers != nullptr) {
    for (const header_field& f : *trailers) {
      out.append(f.name);
      out.append(": ");
      out.append(f.value);
      out.append("\r\n");
    }
  }
  out.append("\r\n");
}

KHZ_END_NAMESPACE
