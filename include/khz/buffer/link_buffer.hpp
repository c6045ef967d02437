#pragma once
// link_buffer: a byte queue made of a chain of refcounted blocks (Netpoll's LinkBuffer).
//
// Shape: [ released | consumed-not-released | readable | written-not-flushed | free ]
//   - the writer reserves space at the tail, commits what it wrote, and flush() makes the
//     committed bytes readable (Netpoll's Malloc / MallocAck / Flush);
//   - the reader peeks and consumes from the front; release() gives consumed memory back.
//
// Lifetimes (the contract every user of this type relies on):
//   - A view returned by peek() or next() points into the buffer's blocks (or, when it
//     had to cross blocks, into a scratch copy owned by the buffer). It stays valid,
//     whatever else is read or written, until release(), clear(), move-from or
//     destruction of this buffer. After any of those it dangles.
//   - A span returned by reserve() is valid until the next reserve(), append*(),
//     release(), clear() or destruction. Bytes written there are not readable until
//     commit() and flush().
//   - slice(n) returns a new buffer that shares the blocks (no copy) and holds its own
//     references: it stays valid after this buffer is released, cleared or destroyed,
//     and may be moved to and released on another thread.
//   - append_external() links caller memory without copying; the keep-alive handle is
//     held until the last buffer viewing that memory releases it.
//   - The iovecs from readable_iovecs() are valid until the bytes they view are
//     consumed and released.
//
// File regions: append_file() queues bytes [offset, offset + length) of an open file
// (a shared file_ref) in order with the memory around it, without reading them. The
// connection write path sends them with sendfile(2). Which APIs see a file region:
//   - as a region (never reading the file): size(), empty(), pending(), skip(), slice()
//     (shares the region), append(link_buffer&&) (moves it), release(), clear(),
//     has_file(), front_file(), block_count(), and readable_iovecs(), which stops at the
//     first file region (it returns the memory before it);
//   - as bytes: peek(), next(), front(), read_string(), copy_to(), find() and
//     for_each_chunk() first read every file region of the buffer into memory (pread,
//     once: the region becomes an ordinary block), so they work on any buffer, at the
//     cost of the copy. A file that became shorter than a region reads as NUL bytes past
//     its end there; materialize() does the same conversion and reports that as an error.
//
// Memory: release() returns every block whose bytes are all consumed, including the
// tail block once the buffer holds nothing, so an idle buffer holds no block at all.
//
// Threading: a link_buffer is owned by one thread at a time (no internal locking).
// Blocks are shared through atomic reference counts, so slices may cross threads.
//
// Errors: reading more than size() bytes is a precondition violation (asserted in
// debug builds; release builds clamp to size()).

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/buffer/block_pool.hpp>
#include <khz/buffer/file_ref.hpp>

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

KHZ_BEGIN_NAMESPACE

namespace detail {
struct buffer_node;
struct scratch_chunk;
}  // namespace detail

class link_buffer {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  link_buffer() noexcept = default;
  link_buffer(link_buffer&& other) noexcept
      : first_(std::exchange(other.first_, nullptr)),
        read_(std::exchange(other.read_, nullptr)),
        tail_(std::exchange(other.tail_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        pending_(std::exchange(other.pending_, 0)),
        scratch_(std::exchange(other.scratch_, nullptr)),
        files_(std::exchange(other.files_, 0)) {}
  link_buffer& operator=(link_buffer&& other) noexcept {
    if (this != &other) {
      clear();
      first_ = std::exchange(other.first_, nullptr);
      read_ = std::exchange(other.read_, nullptr);
      tail_ = std::exchange(other.tail_, nullptr);
      size_ = std::exchange(other.size_, 0);
      pending_ = std::exchange(other.pending_, 0);
      scratch_ = std::exchange(other.scratch_, nullptr);
      files_ = std::exchange(other.files_, 0);
    }
    return *this;
  }
  link_buffer(const link_buffer&) = delete;
  link_buffer& operator=(const link_buffer&) = delete;
  ~link_buffer() { clear(); }

  // ------------------------------------------------------------------ reader side

  // Readable (flushed, not yet consumed) bytes.
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // The first n readable bytes as one contiguous view, without consuming them.
  // Zero copy when they sit in one block; otherwise one copy into scratch memory owned
  // by this buffer. Precondition: n <= size().
  std::string_view peek(std::size_t n);

  // The readable bytes of the first block, without copying or consuming (may be fewer
  // than size(); empty only when the buffer is empty).
  std::string_view front() const noexcept;  // inline below

  // peek(n), then consume those n bytes.
  std::string_view next(std::size_t n);

  // Consumes n bytes. Precondition: n <= size().
  void skip(std::size_t n);

  // Frees the memory of consumed bytes. Invalidates every view from peek()/next().
  void release() noexcept;

  // Consumes the first n readable bytes into a new buffer sharing the same blocks.
  link_buffer slice(std::size_t n);

  // out = slice(n) without the temporary: clears `out`, then moves the first n readable
  // bytes into it (shared blocks, no copy). One node and no move when the n bytes are
  // in the read node (a parsed head). Precondition: &out != this.
  void slice_to(link_buffer& out, std::size_t n);

  // Consumes n bytes into a std::string (a copy).
  std::string read_string(std::size_t n);

  // Copies up to out.size() readable bytes into out without consuming; returns the count.
  std::size_t copy_to(std::span<char> out) const noexcept;

  // Offset of the first `c` / `delim` at or after `from` among readable bytes, or npos.
  std::size_t find(char c, std::size_t from = 0) const noexcept;
  std::size_t find(std::string_view delim, std::size_t from = 0) const noexcept;

  // Fills `out` with iovecs over the readable bytes, in order, stopping after `max_bytes`
  // and before the first file region; returns how many entries were filled (fewer than
  // the blocks when `out` is short, 0 when a file region comes first).
  std::size_t readable_iovecs(std::span<iovec> out, std::size_t max_bytes = npos) const noexcept;

  // A file region at the read position: its file, the offset of its next unsent byte and
  // the bytes left (readable ones only). skip() advances it.
  struct file_span {
    const file_ref* file = nullptr;
    std::uint64_t offset = 0;
    std::size_t length = 0;
  };
  // The file region holding the next readable byte, or {} (file == nullptr) when that
  // byte is in memory or the buffer is empty.
  file_span front_file() const noexcept;

  // Whether any file region is linked (readable, pending or consumed-not-released).
  bool has_file() const noexcept { return files_ != 0; }

  // Reads every file region into memory (pread), so the buffer holds only memory blocks.
  // Error (the system's, or ENODATA for a file shorter than its region, whose missing
  // bytes read as NUL) after converting everything it could.
  result<void> materialize();

  // Calls f(std::string_view) for each contiguous run of readable bytes, in order; f may
  // return false to stop early (a void f visits all).
  template <class F>
  void for_each_chunk(F&& f) const;

  // ------------------------------------------------------------------ writer side

  // A writable span of at least n bytes at the tail (Netpoll's Malloc). n == 0 asks for
  // whatever is free in the tail block, allocating a min-size block when there is none.
  std::span<char> reserve(std::size_t n);

  // Marks the first n bytes of the last reserved span as written (n <= its size).
  void commit(std::size_t n) noexcept;

  // Makes every written byte readable.
  void flush() noexcept { size_ += pending_; pending_ = 0; }

  // Bytes written but not yet flushed.
  std::size_t pending() const noexcept { return pending_; }

  // Copies bytes in (written, not flushed).
  void append(std::string_view bytes);

  // Links every byte of `other` (readable and pending) after this buffer's written
  // bytes, without copying; `other` is left empty. The bytes count as written here.
  void append(link_buffer&& other);

  // Links caller-owned memory without copying (written, not flushed). `keep_alive` is
  // held until no buffer views the memory any more.
  void append_external(std::span<const char> bytes, std::shared_ptr<const void> keep_alive);

  // Links bytes [offset, offset + length) of `file` without reading them (written, not
  // flushed): a file region (see the file comment). `file` is held until the region is
  // consumed and released. The file is not read here; a region beyond the file's end
  // fails when it is sent (the connection closes with an error) or reads as NUL bytes.
  void append_file(std::shared_ptr<const file_ref> file, std::uint64_t offset, std::size_t length);

  // Adopts one reference to a block whose first `length` bytes hold data (written, not
  // flushed): used by transports whose kernel filled a pooled block (io_uring provided
  // buffers). The block's remaining space becomes this buffer's writable tail.
  void append_block(detail::block* b, std::size_t length);

  // Reserves, copies and commits: convenience for small writes.
  void write(std::string_view bytes) { append(bytes); }

  // Drops everything: readable, pending, scratch. Invalidates every view. Inline for the
  // common case of a buffer that holds nothing (message objects clear several per use).
  void clear() noexcept {
    if (first_ == nullptr && scratch_ == nullptr) return;  // nothing held: size_ etc. are 0
    clear_slow();
  }

  // Blocks this buffer holds (consumed-not-released ones included): a diagnostic for
  // tests and memory accounting.
  std::size_t block_count() const noexcept;

 private:
  detail::buffer_node* new_tail_block(std::size_t min_capacity);
  void link_node(detail::buffer_node* n) noexcept;
  void normalize_read() noexcept;
  void clear_slow() noexcept;
  void slice_to_slow(link_buffer& out, std::size_t n);
  std::string_view front_slow() const noexcept;
  std::string_view peek_slow(std::size_t n);
  void materialize_files() const noexcept { (void)read_files(); }
  std::error_code read_files() const noexcept;

  detail::buffer_node* first_ = nullptr;  // oldest node not yet released
  detail::buffer_node* read_ = nullptr;   // node holding the read position
  detail::buffer_node* tail_ = nullptr;   // last node (write position)
  std::size_t size_ = 0;                  // readable bytes
  std::size_t pending_ = 0;               // written, not flushed
  detail::scratch_chunk* scratch_ = nullptr;
  mutable std::size_t files_ = 0;  // file nodes linked (read_files() converts them)
};

namespace detail {

// One link of a buffer chain: a view [rd, wr) into a block, or (file == true) the file
// region [foff, foff + flen) of a file block (rd and wr are then null). Nodes come from
// a per-thread free list.
struct buffer_node {
  buffer_node* next = nullptr;
  block* blk = nullptr;
  char* rd = nullptr;     // read position
  char* wr = nullptr;     // end of written bytes
  std::uint64_t foff = 0; // file nodes: offset of the next unread byte
  std::size_t flen = 0;   // file nodes: unread bytes
  bool writable = false;  // this node owns the block's free space after wr
  bool file = false;

  std::size_t readable() const noexcept { return file ? flen : static_cast<std::size_t>(wr - rd); }
};

}  // namespace detail

inline std::string_view link_buffer::front() const noexcept {
  // The usual case: memory only, the next readable byte in the read node.
  if (KHZ_LIKELY(files_ == 0 && read_ != nullptr && read_->rd != read_->wr && size_ != 0)) {
    const std::size_t n = static_cast<std::size_t>(read_->wr - read_->rd);
    return {read_->rd, n < size_ ? n : size_};
  }
  return front_slow();
}

// Moves the read position off fully consumed nodes when a later node exists, so that
// read_ always points at the node holding the next readable byte (if any).
inline void link_buffer::normalize_read() noexcept {
  while (read_ != nullptr && read_->readable() == 0 && read_->next != nullptr) read_ = read_->next;
}

template <class F>
void link_buffer::for_each_chunk(F&& f) const {
  if (KHZ_UNLIKELY(files_ != 0)) materialize_files();
  std::size_t left = size_;
  for (auto* n = read_; n != nullptr && left > 0; n = n->next) {
    std::size_t take = n->readable() < left ? n->readable() : left;
    if (take == 0) continue;
    left -= take;
    if constexpr (std::is_same_v<decltype(f(std::string_view{})), bool>) {
      if (!f(std::string_view(n->rd, take))) return;
    } else {
      f(std::string_view(n->rd, take));
    }
  }
}

KHZ_END_NAMESPACE
