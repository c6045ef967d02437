#pragma once
// headers: the ordered field list of a message (RFC 9110 §5).
//
// - Order and duplicates are kept exactly as received or added.
// - Lookup by name is ASCII case-insensitive. The fields the codec itself uses (Host,
//   Content-Length, Transfer-Encoding, Connection, Expect, Upgrade, Content-Type) are
//   classified once when added, and their first occurrence is found in O(1).
// - Storage: up to `inline_capacity` fields live inside the object (no allocation for a
//   typical message); more spill to the heap. clear() keeps every allocation, so a
//   pooled message reaches a steady state with no allocation at all.
//
// Lifetimes: a field is a pair of string_views.
//   - Fields added by the parser view the message's own head buffer (see request /
//     response): valid as long as the message object is neither cleared nor destroyed
//     (moving the message keeps them valid).
//   - add() copies name and value into this object's arena: valid until clear() or
//     destruction (a move keeps them valid).
//   - add_view() stores the views as given: the caller keeps the bytes alive (string
//     literals, or memory that outlives the message).
// A headers object is move-only: a copy would have to re-point every view.

#include <khz/base/config.hpp>
#include <khz/http/detail/chars.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

KHZ_BEGIN_NAMESPACE

// The fields the codec looks at itself.
enum class known_field : std::uint8_t {
  other = 0,
  host,
  content_length,
  transfer_encoding,
  connection,
  expect,
  upgrade,
  content_type,
};
inline constexpr std::size_t known_field_count = 8;

// Classifies a field name (case-insensitive).
constexpr known_field classify_field(std::string_view name) noexcept {
  using detail::http_chars::iequals;
  switch (name.size()) {
    case 4:
      if (iequals(name, "host")) return known_field::host;
      break;
    case 6:
      if (iequals(name, "expect")) return known_field::expect;
      break;
    case 7:
      if (iequals(name, "upgrade")) return known_field::upgrade;
      break;
    case 10:
      if (iequals(name, "connection")) return known_field::connection;
      break;
    case 12:
      if (iequals(name, "content-type")) return known_field::content_type;
      break;
    case 14:
      if (iequals(name, "content-length")) return known_field::content_length;
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) return known_field::transfer_encoding;
      break;
    default:
      break;
  }
  return known_field::other;
}

struct header_field {
  std::string_view name;
  std::string_view value;  // without leading/trailing whitespace
  known_field id = known_field::other;
};

namespace detail {

struct parser_callbacks;

// A growable array of trivially copyable T with N elements inline. clear() keeps the
// heap capacity. The inline elements are raw storage, not T[N]: a T with default member
// initializers would otherwise be constructed N times with every container (24 header
// fields are ~1 KB of stores per message object), only to be overwritten.
template <class T, std::size_t N>
class small_vector {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "small_vector holds trivially copyable, trivially destructible types only");

 public:
  small_vector() noexcept : data_(inline_data()) {}
  small_vector(const small_vector&) = delete;
  small_vector& operator=(const small_vector&) = delete;
  small_vector(small_vector&& o) noexcept : data_(inline_data()) { take(o); }
  small_vector& operator=(small_vector&& o) noexcept {
    if (this != &o) {
      free_heap();
      take(o);
    }
    return *this;
  }
  ~small_vector() { free_heap(); }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }
  T& back() noexcept { return data_[size_ - 1]; }

  void push_back(const T& v) {
    if (KHZ_UNLIKELY(size_ == capacity_)) grow();
    ::new (static_cast<void*>(data_ + size_)) T(v);
    ++size_;
  }
  void pop_back() noexcept { --size_; }
  void erase_at(std::size_t i) noexcept {
    std::memmove(static_cast<void*>(data_ + i), data_ + i + 1, (size_ - i - 1) * sizeof(T));
    --size_;
  }
  void clear() noexcept { size_ = 0; }

  // Bulk append (the parser): elements are written in place in [end(), storage_end()),
  // then set_size() makes them count; grow() doubles the capacity (elements kept).
  T* storage_end() noexcept { return data_ + capacity_; }
  void set_size(std::size_t n) noexcept { size_ = n; }
  void grow() {
    std::size_t cap = capacity_ * 2;
    T* p = static_cast<T*>(::operator new(cap * sizeof(T)));
    std::memcpy(static_cast<void*>(p), data_, size_ * sizeof(T));
    free_heap();
    data_ = p;
    capacity_ = cap;
  }

 private:
  bool on_heap() const noexcept { return data_ != inline_data(); }
  void free_heap() noexcept {
    if (on_heap()) ::operator delete(static_cast<void*>(data_));
    data_ = inline_data();
    capacity_ = N;
  }
  void take(small_vector& o) noexcept {
    size_ = o.size_;
    if (o.on_heap()) {
      data_ = std::exchange(o.data_, o.inline_data());
      capacity_ = std::exchange(o.capacity_, N);
    } else {
      std::memcpy(static_cast<void*>(inline_), o.inline_, size_ * sizeof(T));  // T is implicit-lifetime
    }
    o.size_ = 0;
  }

  // Elements [0, size_) are alive; T is trivially copyable and trivially destructible,
  // so memcpy and placement new create them and nothing needs destroying. data_ points
  // at the inline storage or at the heap block; it is kept rather than recomputed so
  // that an access is one load.
  T* inline_data() noexcept { return std::launder(reinterpret_cast<T*>(inline_)); }
  const T* inline_data() const noexcept { return std::launder(reinterpret_cast<const T*>(inline_)); }

  T* data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = N;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

// Bump allocator for copied strings: memory comes in chunks that never move, so a view
// into it stays valid until clear(); clear() keeps the chunks for reuse.
class string_arena {
 public:
  string_arena() noexcept = default;
  string_arena(const string_arena&) = delete;
  string_arena& operator=(const string_arena&) = delete;
  string_arena(string_arena&& o) noexcept
      : head_(std::exchange(o.head_, nullptr)), current_(std::exchange(o.current_, nullptr)) {}
  string_arena& operator=(string_arena&& o) noexcept {
    if (this != &o) {
      release_all();
      head_ = std::exchange(o.head_, nullptr);
      current_ = std::exchange(o.current_, nullptr);
    }
    return *this;
  }
  ~string_arena() { release_all(); }

  // A copy of s owned by the arena.
  std::string_view store(std::string_view s);
  // n writable bytes owned by the arena (contents unspecified).
  char* allocate(std::size_t n);
  void clear() noexcept {
    current_ = head_;
    if (current_ != nullptr) current_->used = 0;
  }

 private:
  struct chunk {
    chunk* next;
    std::size_t capacity;
    std::size_t used;
    char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  };
  void release_all() noexcept;
  chunk* head_ = nullptr;     // all chunks, in order
  chunk* current_ = nullptr;  // chunk being filled
};

}  // namespace detail

class headers {
 public:
  static constexpr std::size_t inline_capacity = 24;
  using iterator = const header_field*;

  headers() noexcept { clear_index(); }
  headers(headers&&) noexcept = default;
  headers& operator=(headers&&) noexcept = default;

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  iterator begin() const noexcept { return fields_.begin(); }
  iterator end() const noexcept { return fields_.end(); }
  const header_field& operator[](std::size_t i) const noexcept { return fields_[i]; }

  // First field with this name (case-insensitive), or nullptr.
  const header_field* find(std::string_view name) const noexcept {
    known_field id = classify_field(name);
    if (id != known_field::other) return find(id);
    for (const header_field& f : fields_)
      if (f.id == known_field::other && detail::http_chars::iequals(f.name, name)) return &f;
    return nullptr;
  }
  // First field of a known kind, in O(1).
  const header_field* find(known_field id) const noexcept {
    std::uint16_t i = index_[static_cast<std::size_t>(id)];
    return i == no_index ? nullptr : &fields_[i];
  }

  // Value of the first field with this name; empty when absent (use find() or
  // contains() to tell an absent field from an empty one).
  std::string_view get(std::string_view name) const noexcept {
    const header_field* f = find(name);
    return f != nullptr ? f->value : std::string_view{};
  }
  std::string_view get(known_field id) const noexcept {
    const header_field* f = find(id);
    return f != nullptr ? f->value : std::string_view{};
  }
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  bool contains(known_field id) const noexcept { return find(id) != nullptr; }

  // Number of fields with this name.
  std::size_t count(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (const header_field& f : fields_)
      if (detail::http_chars::iequals(f.name, name)) ++n;
    return n;
  }

  // Calls f(value) for each field with this name, in order.
  template <class F>
  void for_each(std::string_view name, F&& f) const {
    for (const header_field& h : fields_)
      if (detail::http_chars::iequals(h.name, name)) f(h.value);
  }

  // Appends a field, copying name and value into this object. Preconditions (checked by
  // the serializer, not here): name is a token, value holds no CR, LF or NUL.
  void add(std::string_view name, std::string_view value) {
    add_view(arena_.store(name), arena_.store(value));
  }
  // Appends a field without copying: the caller keeps both strings alive while this
  // object may be read (typically string literals).
  void add_view(std::string_view name, std::string_view value) {
    push(header_field{name, detail::http_chars::trim_ows(value), classify_field(name)});
  }
  // Replaces every field with this name by one field (copied).
  void set(std::string_view name, std::string_view value) {
    erase(name);
    add(name, value);
  }
  // Removes every field with this name; returns how many were removed.
  std::size_t erase(std::string_view name) noexcept;

  // Empties the list; keeps the memory for reuse. Invalidates every field view.
  void clear() noexcept {
    fields_.clear();
    arena_.clear();
    clear_index();
  }

  // The arena behind add(): messages use it for their own copied strings too.
  detail::string_arena& arena() noexcept { return arena_; }

  // Parser entry point: appends an already validated and classified field whose views
  // the caller keeps alive.
  void push(const header_field& f) {
    std::size_t i = fields_.size();
    fields_.push_back(f);
    auto& slot = index_[static_cast<std::size_t>(f.id)];
    if (f.id != known_field::other && slot == no_index && i < no_index) slot = static_cast<std::uint16_t>(i);
  }

 private:
  friend struct detail::parser_callbacks;  // the bulk append below

  // The parser's bulk append (the same result as push() per field, without reloading
  // the vector per field): fields are written from fill_begin() up to fill_limit(),
  // fill_grow() makes room for more, fill_end() commits them; fill_index() records the
  // known field written at `at` (called in order, like push()).
  header_field* fill_begin() noexcept { return fields_.end(); }
  header_field* fill_limit() noexcept { return fields_.storage_end(); }
  header_field* fill_grow(header_field* next) {
    const std::size_t n = static_cast<std::size_t>(next - fields_.data());
    fields_.set_size(n);
    fields_.grow();
    return fields_.data() + n;
  }
  void fill_end(header_field* next) noexcept { fields_.set_size(static_cast<std::size_t>(next - fields_.data())); }
  void fill_index(known_field id, const header_field* at) noexcept {
    const std::size_t i = static_cast<std::size_t>(at - fields_.data());
    auto& slot = index_[static_cast<std::size_t>(id)];
    if (slot == no_index && i < no_index) slot = static_cast<std::uint16_t>(i);
  }

  static constexpr std::uint16_t no_index = 0xffff;
  void clear_index() noexcept {
    for (auto& i : index_) i = no_index;
  }
  void rebuild_index() noexcept;

  detail::small_vector<header_field, inline_capacity> fields_;
  std::uint16_t index_[known_field_count];
  detail::string_arena arena_;
};

KHZ_END_NAMESPACE
