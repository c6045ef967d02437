#include <khz/buffer/link_buffer.hpp>

#include "../base/thread_free_list.hpp"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

KHZ_BEGIN_NAMESPACE

namespace detail {

struct scratch_chunk {
  scratch_chunk* next;
  std::size_t size;
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
};

namespace {

// Per-thread free list of nodes, so that linking a block costs no allocation once warm.
// buffer_node is trivially destructible: a cached node is raw memory, constructed again
// when it is taken.
static_assert(std::is_trivially_destructible_v<buffer_node>);
using node_cache = thread_free_list<buffer_node, 4096>;

buffer_node* new_node(block* b, char* rd, char* wr, bool writable);

buffer_node* new_file_node(block* b, std::uint64_t offset, std::size_t length) {
  buffer_node* n = new_node(b, nullptr, nullptr, false);
  n->file = true;
  n->foff = offset;
  n->flen = length;
  return n;
}

buffer_node* new_node(block* b, char* rd, char* wr, bool writable) {
  void* p = node_cache::pop();
  buffer_node* n = p != nullptr ? ::new (p) buffer_node : new buffer_node;
  n->blk = b;
  n->rd = rd;
  n->wr = wr;
  n->writable = writable;
  return n;
}

void free_node(buffer_node* n) noexcept {
  block_release(n->blk);
  if (!node_cache::push(n)) delete n;
}

void free_scratch(scratch_chunk* s) noexcept {
  while (s != nullptr) {
    scratch_chunk* next = s->next;
    ::operator delete(static_cast<void*>(s));
    s = next;
  }
}

}  // namespace
}  // namespace detail

using detail::buffer_node;

void link_buffer::clear_slow() noexcept {
  for (buffer_node* n = first_; n != nullptr;) {
    buffer_node* next = n->next;
    detail::free_node(n);
    n = next;
  }
  first_ = read_ = tail_ = nullptr;
  size_ = pending_ = 0;
  files_ = 0;
  detail::free_scratch(std::exchange(scratch_, nullptr));
}

std::string_view link_buffer::front_slow() const noexcept {
  if (KHZ_UNLIKELY(files_ != 0)) materialize_files();
  for (buffer_node* n = read_; n != nullptr; n = n->next) {
    if (n->readable() != 0) return {n->rd, std::min(n->readable(), size_)};
    if (size_ == 0) break;
  }
  return {};
}

std::string_view link_buffer::peek(std::size_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  if (n == 0) return {};
  if (KHZ_UNLIKELY(files_ != 0)) materialize_files();
  normalize_read();
  if (KHZ_LIKELY(read_->readable() >= n)) return {read_->rd, n};
  return peek_slow(n);
}

std::string_view link_buffer::peek_slow(std::size_t n) {
  void* memory = ::operator new(sizeof(detail::scratch_chunk) + n);
  auto* chunk = new (memory) detail::scratch_chunk{scratch_, n};
  scratch_ = chunk;
  copy_to({chunk->data(), n});
  return {chunk->data(), n};
}

std::string_view link_buffer::next(std::size_t n) {
  std::string_view view = peek(n);
  skip(view.size());
  return view;
}

void link_buffer::skip(std::size_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  size_ -= n;
  while (n > 0) {
    normalize_read();
    std::size_t take = std::min(n, read_->readable());
    if (read_->file) {
      read_->foff += take;
      read_->flen -= take;
    } else {
      read_->rd += take;
    }
    n -= take;
  }
  normalize_read();
}

void link_buffer::release() noexcept {
  buffer_node* r = read_;
  if (r != nullptr && r == first_ && r->next == nullptr && size_ == 0 && pending_ == 0 && !r->file &&
      r->rd == r->wr && scratch_ == nullptr) {
    // Everything read, in one block (a read that was parsed whole): give it back.
    detail::free_node(r);
    first_ = read_ = tail_ = nullptr;
    return;
  }
  normalize_read();
  while (first_ != nullptr && first_ != read_) {
    buffer_node* n = first_;
    first_ = n->next;
    if (n->file) --files_;
    detail::free_node(n);
  }
  // Nothing left at all: give the last block back too, so an idle buffer holds nothing.
  if (read_ != nullptr && size_ == 0 && pending_ == 0 && read_->readable() == 0 && read_->next == nullptr) {
    if (read_->file) --files_;
    detail::free_node(read_);
    first_ = read_ = tail_ = nullptr;
  }
  detail::free_scratch(std::exchange(scratch_, nullptr));
}

link_buffer link_buffer::slice(std::size_t n) {
  link_buffer out;
  slice_to(out, n);
  return out;
}

void link_buffer::slice_to(link_buffer& out, std::size_t n) {
  assert(&out != this);
  out.clear();
  buffer_node* r = read_;
  if (KHZ_LIKELY(r != nullptr && !r->file && n != 0 && n <= size_ && static_cast<std::size_t>(r->wr - r->rd) >= n)) {
    // Within the read node (a parsed head, a body that arrived with it): one node.
    detail::block_acquire(r->blk);
    buffer_node* node = detail::new_node(r->blk, r->rd, r->rd + n, false);
    out.first_ = out.read_ = out.tail_ = node;
    out.size_ = n;
    r->rd += n;
    size_ -= n;
    if (r->rd == r->wr && r->next != nullptr) normalize_read();
    return;
  }
  slice_to_slow(out, n);
}

// Across nodes (or file nodes): one node per piece, then the bytes are skipped.
KHZ_NOINLINE void link_buffer::slice_to_slow(link_buffer& out, std::size_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  std::size_t left = n;
  for (buffer_node* node = read_; left > 0; node = node->next) {
    std::size_t take = std::min(left, node->readable());
    if (take == 0) continue;
    detail::block_acquire(node->blk);
    if (node->file) {
      out.link_node(detail::new_file_node(node->blk, node->foff, take));
      ++out.files_;
    } else {
      out.link_node(detail::new_node(node->blk, node->rd, node->rd + take, false));
    }
    left -= take;
  }
  out.size_ = n;
  skip(n);
}

std::string link_buffer::read_string(std::size_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  std::string out(n, '\0');
  copy_to({out.data(), n});
  skip(n);
  return out;
}

std::size_t link_buffer::copy_to(std::span<char> out) const noexcept {
  if (out.empty()) return 0;
  std::size_t copied = 0;
  for_each_chunk([&](std::string_view chunk) {
    std::size_t take = std::min(chunk.size(), out.size() - copied);
    std::memcpy(out.data() + copied, chunk.data(), take);
    copied += take;
    return copied < out.size();
  });
  return copied;
}

std::size_t link_buffer::find(char c, std::size_t from) const noexcept {
  std::size_t base = 0;
  std::size_t found = npos;
  for_each_chunk([&](std::string_view chunk) {
    if (from < base + chunk.size()) {
      std::size_t start = from > base ? from - base : 0;
      const void* hit = std::memchr(chunk.data() + start, c, chunk.size() - start);
      if (hit != nullptr) {
        found = base + static_cast<std::size_t>(static_cast<const char*>(hit) - chunk.data());
        return false;
      }
    }
    base += chunk.size();
    return true;
  });
  return found;
}

namespace {
// True when `delim` starts at p (inside node n), reading at most `left` buffer bytes
// and crossing into later nodes as needed.
bool matches_at(const buffer_node* n, const char* p, std::size_t left, std::string_view delim) noexcept {
  while (!delim.empty()) {
    std::size_t avail = std::min(static_cast<std::size_t>(n->wr - p), left);
    if (avail == 0) {
      n = n->next;
      if (n == nullptr || left == 0) return false;
      p = n->rd;
      continue;
    }
    std::size_t k = std::min(avail, delim.size());
    if (std::memcmp(p, delim.data(), k) != 0) return false;
    delim.remove_prefix(k);
    p += k;
    left -= k;
  }
  return true;
}
}  // namespace

std::size_t link_buffer::find(std::string_view delim, std::size_t from) const noexcept {
  if (delim.empty()) return from <= size_ ? from : npos;
  if (KHZ_UNLIKELY(files_ != 0)) materialize_files();
  std::size_t base = 0;  // buffer offset of the current node's first readable byte
  for (const buffer_node* n = read_; n != nullptr && base < size_; n = n->next) {
    std::size_t len = std::min(n->readable(), size_ - base);
    std::size_t at = from > base ? from - base : 0;
    while (at < len) {
      const void* hit = std::memchr(n->rd + at, delim[0], len - at);
      if (hit == nullptr) break;
      at = static_cast<std::size_t>(static_cast<const char*>(hit) - n->rd);
      if (matches_at(n, n->rd + at, size_ - base - at, delim)) return base + at;
      ++at;
    }
    base += len;
  }
  return npos;
}

std::size_t link_buffer::readable_iovecs(std::span<iovec> out, std::size_t max_bytes) const noexcept {
  std::size_t count = 0;
  std::size_t left = std::min(max_bytes, size_);
  for (buffer_node* n = read_; n != nullptr && left > 0 && count < out.size(); n = n->next) {
    if (n->file) break;  // the caller sends the file region itself (front_file)
    std::size_t take = std::min(n->readable(), left);
    if (take == 0) continue;
    out[count].iov_base = n->rd;
    out[count].iov_len = take;
    ++count;
    left -= take;
  }
  return count;
}

link_buffer::file_span link_buffer::front_file() const noexcept {
  if (size_ == 0) return {};
  for (buffer_node* n = read_; n != nullptr; n = n->next) {
    if (n->readable() == 0) continue;
    if (!n->file) return {};
    return {&detail::block_file(n->blk), n->foff, std::min(n->flen, size_)};
  }
  return {};
}

std::error_code link_buffer::read_files() const noexcept {
  std::error_code first_error;
  for (buffer_node* n = first_; n != nullptr && files_ != 0; n = n->next) {
    if (!n->file) continue;
    const std::size_t length = n->flen;
    detail::block* b = block_pool::local().allocate(std::max<std::size_t>(length, 1));
    const int fd = detail::block_file(n->blk).fd();
    std::size_t got = 0;
    while (got < length) {
      const ssize_t r = ::pread(fd, b->data + got, length - got, static_cast<off_t>(n->foff + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        if (!first_error) first_error = r < 0 ? system_error_code(errno) : system_error_code(ENODATA);
        break;
      }
      got += static_cast<std::size_t>(r);
    }
    if (got < length) std::memset(b->data + got, 0, length - got);
    detail::block_release(n->blk);
    n->blk = b;
    n->rd = b->data;
    n->wr = b->data + length;
    n->file = false;
    n->writable = false;
    n->foff = 0;
    n->flen = 0;
    --files_;
  }
  return first_error;
}

result<void> link_buffer::materialize() {
  if (files_ == 0) return {};
  if (std::error_code ec = read_files()) return ec;
  return {};
}

// ---------------------------------------------------------------------- writer side

void link_buffer::link_node(buffer_node* n) noexcept {
  if (tail_ == nullptr) {
    first_ = read_ = tail_ = n;
  } else {
    tail_->next = n;
    tail_ = n;
  }
}

buffer_node* link_buffer::new_tail_block(std::size_t min_capacity) {
  detail::block* b = block_pool::local().allocate(std::max(min_capacity, block_pool::min_block_size));
  buffer_node* n = detail::new_node(b, b->data, b->data, true);
  link_node(n);
  return n;
}

std::span<char> link_buffer::reserve(std::size_t n) {
  if (tail_ != nullptr && tail_->writable) {
    std::size_t room = static_cast<std::size_t>(tail_->blk->end() - tail_->wr);
    if (room >= std::max<std::size_t>(n, 1)) return {tail_->wr, room};
  }
  buffer_node* node = new_tail_block(n);
  return {node->wr, node->blk->capacity};
}

void link_buffer::commit(std::size_t n) noexcept {
  assert(tail_ != nullptr && tail_->writable && tail_->wr + n <= tail_->blk->end());
  tail_->wr += n;
  pending_ += n;
}

void link_buffer::append(std::string_view bytes) {
  const std::size_t n = bytes.size();
  if (n == 0) return;
  if (tail_ != nullptr) {
    if (tail_->writable && static_cast<std::size_t>(tail_->blk->end() - tail_->wr) >= n) {
      // Fits in the tail block.
      std::memcpy(tail_->wr, bytes.data(), n);
      tail_->wr += n;
      pending_ += n;
      return;
    }
  } else if (n <= block_pool::max_pooled_block_size) {
    // An empty buffer (an idle connection's input, once released): one block.
    detail::block* b = block_pool::local().allocate(std::max(n, block_pool::min_block_size));
    std::memcpy(b->data, bytes.data(), n);
    first_ = read_ = tail_ = detail::new_node(b, b->data, b->data + n, true);
    pending_ += n;
    return;
  }
  while (!bytes.empty()) {
    // Fill the tail block, then ask for a block sized for the rest (capped at the
    // largest pooled class so a huge copy does not need one huge allocation).
    std::span<char> room = reserve(std::min(bytes.size(), block_pool::max_pooled_block_size));
    std::size_t take = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), take);
    commit(take);
    bytes.remove_prefix(take);
  }
}

void link_buffer::append(link_buffer&& other) {
  if (&other == this) return;
  other.flush();
  other.normalize_read();
  // Drop the consumed part of other, keep its readable nodes.
  buffer_node* n = other.read_;
  while (other.first_ != nullptr && other.first_ != n) {
    buffer_node* dead = other.first_;
    other.first_ = dead->next;
    if (dead->file) --other.files_;
    detail::free_node(dead);
  }
  std::size_t moved = other.size_;
  if (moved == 0) {
    other.clear();
    return;
  }
  // A partially filled writable tail here stops being writable: bytes must stay in order.
  if (tail_ != nullptr) tail_->writable = false;
  if (tail_ == nullptr) {
    first_ = read_ = n;
  } else {
    tail_->next = n;
  }
  tail_ = other.tail_;
  pending_ += moved;
  // Scratch views handed out by other stay valid: its scratch moves here.
  if (other.scratch_ != nullptr) {
    detail::scratch_chunk* last = other.scratch_;
    while (last->next != nullptr) last = last->next;
    last->next = scratch_;
    scratch_ = other.scratch_;
  }
  files_ += other.files_;
  other.first_ = other.read_ = other.tail_ = nullptr;
  other.size_ = other.pending_ = 0;
  other.files_ = 0;
  other.scratch_ = nullptr;
}

void link_buffer::append_external(std::span<const char> bytes, std::shared_ptr<const void> keep_alive) {
  if (bytes.empty()) return;
  detail::block* b = detail::make_external_block(bytes.data(), bytes.size(), std::move(keep_alive));
  if (tail_ != nullptr) tail_->writable = false;
  link_node(detail::new_node(b, b->data, b->data + bytes.size(), false));
  pending_ += bytes.size();
}

void link_buffer::append_file(std::shared_ptr<const file_ref> file, std::uint64_t offset, std::size_t length) {
  if (length == 0 || !file) return;
  detail::block* b = detail::make_file_block(std::move(file));
  if (tail_ != nullptr) tail_->writable = false;
  link_node(detail::new_file_node(b, offset, length));
  ++files_;
  pending_ += length;
}

void link_buffer::append_block(detail::block* b, std::size_t length) {
  assert(length <= b->capacity);
  if (tail_ != nullptr) tail_->writable = false;
  link_node(detail::new_node(b, b->data, b->data + length, b->kind != detail::block_kind::external));
  pending_ += length;
}

std::size_t link_buffer::block_count() const noexcept {
  std::size_t count = 0;
  for (buffer_node* n = first_; n != nullptr; n = n->next) ++count;
  return count;
}

KHZ_END_NAMESPACE
