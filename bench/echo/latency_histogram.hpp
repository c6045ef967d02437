#pragma once
// A fixed-size, log-linear latency histogram in the manner of HdrHistogram: each power
// of two is split into 2^sub_bits linear buckets, so every recorded value is kept with a
// relative error below 2^-(sub_bits+1) (0.4% with sub_bits = 7) and recording is a few
// instructions with no allocation. Values are nanoseconds; values below 2^(sub_bits+1)
// are exact; values above the range are clamped into the last bucket (max() stays exact).
//
// Not thread-safe: one histogram per thread, merge() them afterwards.

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace khz_echo {

class latency_histogram {
 public:
  static constexpr unsigned sub_bits = 7;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;
  static constexpr unsigned max_msb = 42;  // up to ~8.8e12 ns (about 2.4 hours)
  static constexpr std::size_t bucket_count = (max_msb - sub_bits + 2) * sub_count;

  void record(std::uint64_t value) noexcept {
    constexpr std::uint64_t top = (std::uint64_t{2} << max_msb) - 1;
    const std::uint64_t clamped = value > top ? top : value;
    ++counts_[index_of(clamped)];
    ++total_;
    sum_ += value;
    if (value > max_) max_ = value;
  }

  void merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    if (other.max_ > max_) max_ = other.max_;
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return total_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept {
    return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_);
  }

  // The value at quantile q in [0, 1] (e.g. 0.999): the midpoint of the bucket holding
  // the ceil(q * count)-th smallest value, never above max(). 0 when empty.
  [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    if (rank < 1) rank = 1;
    if (rank > total_) rank = total_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t mid = lowest_of(i) + (width_of(i) - 1) / 2;
        return mid < max_ ? mid : max_;
      }
    }
    return max_;
  }

  // Bucket arithmetic, public so that it can be checked in isolation.
  static constexpr std::size_t index_of(std::uint64_t value) noexcept {
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(value | 1));
    if (msb < sub_bits) return static_cast<std::size_t>(value);
    const unsigned shift = msb - sub_bits;
    return static_cast<std::size_t>((shift + 1) * sub_count + ((value >> shift) - sub_count));
  }
  static constexpr std::uint64_t lowest_of(std::size_t index) noexcept {
    if (index < 2 * sub_count) return index;
    const std::uint64_t shift = index / sub_count - 1;
    return (index % sub_count + sub_count) << shift;
  }
  static constexpr std::uint64_t width_of(std::size_t index) noexcept {
    if (index < 2 * sub_count) return 1;
    return std::uint64_t{1} << (index / sub_count - 1);
  }

 private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

// Compile-time checks of the bucket arithmetic: contiguous, exact at the bottom, and
// every value lands in a bucket whose range contains it.
static_assert(latency_histogram::index_of(0) == 0 && latency_histogram::index_of(255) == 255);
static_assert(latency_histogram::index_of(256) == 256 && latency_histogram::index_of(257) == 256);
static_assert(latency_histogram::index_of(258) == 257);
static_assert(latency_histogram::lowest_of(latency_histogram::index_of(1000003)) <= 1000003);
static_assert(latency_histogram::lowest_of(latency_histogram::index_of(1000003)) +
                  latency_histogram::width_of(latency_histogram::index_of(1000003)) >
              1000003);
static_assert(latency_histogram::index_of((std::uint64_t{2} << latency_histogram::max_msb) - 1) ==
              latency_histogram::bucket_count - 1);

}  // namespace khz_echo
